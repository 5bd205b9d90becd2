package web

import (
	"context"
	"time"

	"github.com/toodoo/toodoo/tenancy"
)

// keepSpares keeps cfg.SpareSchemas spare tenant schemas ready (tenancy.FillSpares), so that a
// sign-up renames one instead of running the template's DDL. It refills after every tenant
// created through this server and once a minute (other processes take spares too), until ctx is
// done. Each refill also claims the spares of this binary's schema.hcl, so that during a rolling
// deploy the other version's processes leave them alone; spares of a version that no process
// claims any more are dropped after tenancy.SpareGrace (10 minutes, ten refills).
func (s *Server) keepSpares(ctx context.Context) {
	if s.cfg.SpareSchemas <= 0 {
		return
	}
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		if built, err := s.db.FillSpares(ctx, s.def, s.cfg.SpareSchemas, tenancy.SpareGrace); err != nil {
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
