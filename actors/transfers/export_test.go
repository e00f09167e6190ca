package transfers

// UserActors is the number of user actors the service routes to now (for
// tests of the idle stop).
func (s *Service) UserActors() int {
	n := 0
	s.users.Range(func(any, any) bool { n++; return true })
	return n
}

// LiveUsers is the set of users the service has an actor for now.
func (s *Service) LiveUsers() map[uint64]bool {
	users := map[uint64]bool{}
	s.users.Range(func(k, _ any) bool { users[k.(uint64)] = true; return true })
	return users
}
