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

// UserDepth is the number of requests counted into user's actor now.
func (s *Service) UserDepth(user uint64) int64 {
	if ref, ok := s.users.Load(user); ok {
		return ref.(*userRef).depth.Load()
	}
	return 0
}

// InFlight is the number of requests in Submit now.
func (s *Service) InFlight() int64 { return s.inflight.Load() }

// LiveCount is the service's count of routes, which must equal UserActors.
func (s *Service) LiveCount() int64 { return s.liveUsers.Load() }

// InlineWalks is the number of eviction walks new users waited for.
func (s *Service) InlineWalks() int64 { return s.inlineWalks.Load() }

// EvictionWalking reports whether a background eviction walk runs, or its
// result has not reached the supervisor yet.
func (s *Service) EvictionWalking() bool { return s.walking.Load() }

// Closing reports whether Close has begun.
func (s *Service) Closing() bool { return s.closed.Load() }

// SetAfterClosedCheck makes every later Submit call f right after its
// closed check. Call it before the Submits it should see.
func (s *Service) SetAfterClosedCheck(f func()) { s.afterClosedCheck = f }
