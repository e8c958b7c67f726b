# terok's build. One static binary, and the tasks' warden's own beside it
# (terok-warden: it links only what a warden runs; without it terok runs
# its wardens itself, with more memory each), and the shield's OCI hook's
# (terok-shield-hook: it starts faster on every task's start; without it
# the hook runs terok); the links, man pages and
# completions are installed beside it, where man and each shell look by default for
# PREFIX=/usr/local (as root) and PREFIX=~/.local (as a user). The binary
# carries the same files: terok setup installs them there too, and terok
# uninstall removes them.
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
MANDIR    ?= $(PREFIX)/share/man
BASHDIR   ?= $(PREFIX)/share/bash-completion/completions
ZSHDIR    ?= $(PREFIX)/share/zsh/site-functions
# Debian's fish reads /usr/local/share/fish/vendor_completions.d only when
# XDG_DATA_DIRS names /usr/local/share; every fish reads /etc/fish/completions,
# the administrator's directory. terok setup uses the same places (and for
# PREFIX=~/.local the same as here).
FISHDIR   ?= $(if $(filter /usr/local,$(PREFIX)),/etc/fish/completions,$(PREFIX)/share/fish/vendor_completions.d)
GO        ?= go
TAGS      := remote containers_image_openpgp exclude_graphdriver_btrfs exclude_graphdriver_devicemapper
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GOFLAGS_B := -tags '$(TAGS)' -trimpath -ldflags '-s -w -X main.version=$(VERSION)'
# The warden without inlining: 0.9 MB less binary, and as much less of it
# resident in every task's warden (docs/decisions.md "Under 12 MB").
WARDEN_GCFLAGS := -gcflags=all=-l
export CGO_ENABLED := 0

.PHONY: all build test vet install man completions clean
all: build

build:
	$(GO) build $(GOFLAGS_B) -o bin/terok ./cmd/terok
	$(GO) build $(GOFLAGS_B) $(WARDEN_GCFLAGS) -o bin/terok-warden ./cmd/terok-warden
	$(GO) build $(GOFLAGS_B) -o bin/terok-shield-hook ./cmd/terok-shield-hook

vet:
	$(GO) vet -tags '$(TAGS)' ./...

test:
	$(GO) test -tags '$(TAGS)' ./...

install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(BASHDIR) $(DESTDIR)$(ZSHDIR) $(DESTDIR)$(FISHDIR)
	install -m 0755 bin/terok $(DESTDIR)$(BINDIR)/terok
	install -m 0755 bin/terok-warden $(DESTDIR)$(BINDIR)/terok-warden
	install -m 0755 bin/terok-shield-hook $(DESTDIR)$(BINDIR)/terok-shield-hook
	./bin/terok install-links --target terok $(DESTDIR)$(BINDIR) >/dev/null
	install -m 0644 man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/*.5 $(DESTDIR)$(MANDIR)/man5/
	for f in completions/bash/*; do install -m 0644 $$f $(DESTDIR)$(BASHDIR)/; done
	install -m 0644 completions/zsh/_* $(DESTDIR)$(ZSHDIR)/
	install -m 0644 completions/fish/*.fish $(DESTDIR)$(FISHDIR)/

clean:
	rm -rf bin

# The man pages and completions are generated from the command table and
# the grammars, and checked in; TestDocsCurrent fails when they are stale.
man completions: ; TEROK_UPDATE_DOCS=1 $(GO) test -count=1 -tags '$(TAGS)' -run '^TestDocsCurrent$$' ./cmd/terok/
