//go:build linux

package topology

// OpenInUse attaches to a lab that is up and holds it (Use) so that no
// other command removes or rebuilds it meanwhile: what a command that
// acts on a running lab (load, capture, impair) needs. done detaches and
// releases it.
func OpenInUse(name string) (lab *Lab, done func(), err error) {
	release, err := Use(name)
	if err != nil {
		return nil, nil, err
	}
	lab, err = Open(name)
	if err != nil {
		release()
		return nil, nil, err
	}
	return lab, func() { lab.Detach(); release() }, nil
}
