package web

import (
	"context"
	"time"
)

// keepSpares keeps cfg.SpareSchemas spare tenant schemas ready (tenancy.FillSpares), so that a
// sign-up renames one instead of running the template's DDL. It refills after every tenant
// created through this server and once a minute (other processes take spares too), until ctx is
// done.
func (s *Server) keepSpares(ctx context.Context) {
	if s.cfg.SpareSchemas <= 0 {
		return
	}
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		if built, err := s.db.FillSpares(ctx, s.def, s.cfg.SpareSchemas); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.logger.Warn("spare schemas: cannot refill", "error", err)
		} else if built > 0 {
			s.logger.Debug("spare schemas: refilled", "built", built)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.spareWake:
		case <-tick.C:
		}
	}
}

// tenantCreated wakes keepSpares after a creation (without waiting for it).
func (s *Server) tenantCreated() {
	select {
	case s.spareWake <- struct{}{}:
	default:
	}
}
