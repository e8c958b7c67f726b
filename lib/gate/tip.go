package gate

import "errors"

// Tip returns the commit a branch of the mirror points at, "" when the
// mirror has no such branch. Like the review, it reads the mirror with
// go-git and runs nothing.
func (m *Mirror) Tip(branch string) (string, error) {
	r, err := m.open()
	if err != nil {
		return "", err
	}
	id, err := r.tip(branch)
	if err != nil && errors.Is(err, ErrNoRef) {
		return "", nil
	}
	return id, err
}
