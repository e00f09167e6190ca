package transfers

// UserActors is the number of user actors the service routes to now (for
// tests of the idle stop).
func (s *Service) UserActors() int {
	n := 0
	s.users.Range(func(any, any) bool { n++; return true })
	return n
}
