// Package agent owns the agent roster: which coding agents terok knows, how
// each is installed into an image (per package family), and how each is
// started headless and interactively — its prompt, model and timeout
// arguments, how its own permission prompts are switched off, the
// environment it needs, and the vault provider whose token it carries.
//
// The roster is one TOML file per agent (the file's stem is the agent's
// name). The built-in files are embedded in the binary (roster/*.toml);
// files in the user's agents directory (config.Paths.AgentsDir) override
// them key by key, or add agents. Unknown keys and invalid values are
// errors that name the file and the line.
//
// Command lines are argument lists, never shell text: an element "{prompt}"
// is replaced by the prompt (and dropped, interactively, when there is
// none); an element "{flags}" by the permission, model and timeout flags
// (which otherwise follow the binary); "{model}" and "{timeout}" are
// replaced inside the model and timeout flags. A headless run that resumes
// the agent's last session (a followup) puts the headless resume arguments
// just before the prompt; agents without them start a new session.
package agent
