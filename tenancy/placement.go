package tenancy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/toodoo/toodoo"
)

// Placement: on a Citus cluster every distributed tenant schema lives whole on one node. These
// are the operator's tools to see where (Nodes, Placements), to move one tenant
// (MoveTenant, Citus's citus_schema_move) and to even the nodes out (RebalancePlan and
// Rebalance, Citus's rebalancer). They read Citus's metadata on the coordinator with plain SQL
// (sqlc knows nothing of pg_dist_*) and are refused outside Citus mode.

// LocalNode is the node of a tenant whose schema is not distributed: it lives on the database
// the application connects to (plain PostgreSQL, or Citus's coordinator).
const LocalNode = "local"

// Node is a Citus node that holds, or may hold, tenant schemas.
type Node struct {
	Host        string `json:"host"`
	Port        int    `json:"port"`
	Coordinator bool   `json:"coordinator"` // the coordinator itself (listed when it may hold schemas)
	Active      bool   `json:"active"`
	// ShouldHaveShards is false for a node being drained: the rebalancer moves schemas off it.
	ShouldHaveShards bool  `json:"should_have_shards"`
	Tenants          int   `json:"tenants"` // tenant schemas placed on it (spare schemas not counted)
	Bytes            int64 `json:"bytes"`   // the size of those tenants' tables, indexes and TOAST
}

// Addr is host:port, the form `toodoo tenant move --to` takes.
func (n Node) Addr() string { return net.JoinHostPort(n.Host, strconv.Itoa(n.Port)) }

// nodesSQL lists the nodes that can hold schemas (the workers, and the coordinator if it is set to
// hold shards or does) with the live tenants on each and their size (citus_shards asks every
// worker for its shards' sizes).
const nodesSQL = `
WITH placed AS (
    SELECT sh.nodename, sh.nodeport, ds.schemaid, sum(sh.shard_size) AS bytes
    FROM pg_catalog.pg_dist_schema ds
    JOIN pg_catalog.citus_shards sh ON sh.colocation_id = ds.colocationid
    JOIN public.tenants t ON t.schema_name = ds.schemaid::regnamespace::text AND t.status <> 'deleted'
    GROUP BY 1, 2, 3
)
SELECT n.nodename, n.nodeport, n.groupid = 0, n.isactive, n.shouldhaveshards,
       count(p.schemaid)::int, coalesce(sum(p.bytes), 0)::bigint
FROM pg_catalog.pg_dist_node n
LEFT JOIN placed p ON p.nodename = n.nodename AND p.nodeport = n.nodeport
WHERE n.noderole = 'primary' AND (n.groupid <> 0 OR n.shouldhaveshards OR p.schemaid IS NOT NULL)
GROUP BY n.nodename, n.nodeport, n.groupid, n.isactive, n.shouldhaveshards
ORDER BY n.groupid <> 0, n.nodename, n.nodeport`

// Nodes lists the nodes of the cluster that hold or may hold tenant schemas, the coordinator
// first if it is one of them, with the tenants on each and their size. Returns EINVALID outside
// Citus mode.
func (db *DB) Nodes(ctx context.Context) ([]Node, error) {
	if err := db.requireCitus(); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, nodesSQL)
	if err != nil {
		return nil, fmt.Errorf("tenancy: list nodes: %w", err)
	}
	nodes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Node, error) {
		var n Node
		err := r.Scan(&n.Host, &n.Port, &n.Coordinator, &n.Active, &n.ShouldHaveShards, &n.Tenants, &n.Bytes)
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("tenancy: list nodes: %w", err)
	}
	return nodes, nil
}

// placementsSQL maps each distributed schema to the node of its shards (all of a schema's tables
// are colocated: one node), from the metadata alone. $1, if not NULL, limits it to one schema.
const placementsSQL = `
SELECT DISTINCT ON (ds.schemaid) ds.schemaid::regnamespace::text, n.nodename, n.nodeport
FROM pg_catalog.pg_dist_schema ds
JOIN pg_catalog.pg_dist_partition p ON p.colocationid = ds.colocationid
JOIN pg_catalog.pg_dist_shard s ON s.logicalrelid = p.logicalrelid
JOIN pg_catalog.pg_dist_placement pl ON pl.shardid = s.shardid
JOIN pg_catalog.pg_dist_node n ON n.groupid = pl.groupid AND n.noderole = 'primary'
WHERE $1::text IS NULL OR ds.schemaid = $1::text::regnamespace
ORDER BY ds.schemaid, s.shardid`

// Placements returns the node (host:port) of every distributed schema, by schema name. A schema
// that is not in it is not distributed (LocalNode). Outside Citus mode it returns nil and asks
// nothing of the database.
func (db *DB) Placements(ctx context.Context) (map[string]string, error) {
	if !db.citus {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, placementsSQL, nil)
	if err != nil {
		return nil, fmt.Errorf("tenancy: read placements: %w", err)
	}
	out := map[string]string{}
	var (
		schema, host string
		port         int
	)
	_, err = pgx.ForEachRow(rows, []any{&schema, &host, &port}, func() error {
		out[schema] = net.JoinHostPort(host, strconv.Itoa(port))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tenancy: read placements: %w", err)
	}
	return out, nil
}

// placement returns the node of one schema, "" if it is not distributed.
func placement(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, schema string) (string, error) {
	var (
		name, host string
		port       int
	)
	err := q.QueryRow(ctx, placementsSQL, pgx.Identifier{schema}.Sanitize()).Scan(&name, &host, &port)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", nil
	case err != nil:
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// ParseNodeAddr reads HOST:PORT as `toodoo tenant move --to` takes it. Returns EINVALID for
// anything else.
func ParseNodeAddr(s string) (host string, port int, err error) {
	h, p, splitErr := net.SplitHostPort(s)
	port, convErr := strconv.Atoi(p)
	if splitErr != nil || convErr != nil || h == "" || port < 1 || port > 65535 {
		return "", 0, toodoo.Invalid("to", "%q is not a node address: use HOST:PORT as toodoo nodes shows it.", s)
	}
	return h, port, nil
}

// findNode returns the node of nodes at addr. Returns ENOTFOUND, listing the known ones, if none.
func findNode(nodes []Node, addr string) (Node, error) {
	host, port, err := ParseNodeAddr(addr)
	if err != nil {
		return Node{}, err
	}
	known := make([]string, 0, len(nodes))
	for _, n := range nodes {
		if n.Port == port && strings.EqualFold(n.Host, host) {
			return n, nil
		}
		known = append(known, n.Addr())
	}
	return Node{}, toodoo.Errorf(toodoo.ENOTFOUND, "No node %s in the cluster (nodes: %s).", net.JoinHostPort(host, strconv.Itoa(port)), strings.Join(known, ", "))
}

// ShardProgress is the state of one shard being moved, as Citus reports it
// (get_rebalance_progress): a move (or a rebalance) reports one per table of each schema.
type ShardProgress struct {
	Schema     string // the tenant schema the shard belongs to
	Table      string
	From, To   string // host:port
	Bytes      int64  // the shard's size at the source
	Copied     int64  // its size at the target so far
	Status     string // Citus's words: "Not Started Yet", "Setting Up", "Copying Data", "Catching Up", "Creating Constraints", "Final Catchup", "Completed"...
	Completed  bool
	InProgress bool
}

// progressSQL reads Citus's progress of the shard moves under way on the cluster.
const progressSQL = `
SELECT coalesce(c.relnamespace::regnamespace::text, ''), coalesce(c.relname::text, ''),
       p.sourcename, p.sourceport, p.targetname, p.targetport,
       coalesce(p.source_shard_size, 0), coalesce(p.target_shard_size, 0), p.progress, coalesce(p.status::text, '')
FROM get_rebalance_progress() p
LEFT JOIN pg_catalog.pg_class c ON c.oid = p.table_name
ORDER BY 1, 2`

// readProgress returns the shard moves under way.
func readProgress(ctx context.Context, pool *pgxpool.Pool) ([]ShardProgress, error) {
	rows, err := pool.Query(ctx, progressSQL)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ShardProgress, error) {
		var (
			sp                   ShardProgress
			fromHost, toHost     string
			fromPort, toPort, pr int
		)
		err := r.Scan(&sp.Schema, &sp.Table, &fromHost, &fromPort, &toHost, &toPort, &sp.Bytes, &sp.Copied, &pr, &sp.Status)
		sp.From = net.JoinHostPort(fromHost, strconv.Itoa(fromPort))
		sp.To = net.JoinHostPort(toHost, strconv.Itoa(toPort))
		sp.InProgress, sp.Completed = pr == 1, pr == 2
		return sp, err
	})
}

// watchProgress calls report with the shard moves under way every interval until stop is
// closed; it reads them on a connection of its own, so the move's statement is not disturbed.
// Reading the progress can fail (a worker busy) without harm: the move goes on, the report
// waits for the next round.
func (db *DB) watchProgress(ctx context.Context, interval time.Duration, report func([]ShardProgress), stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			if p, err := readProgress(ctx, db.pool); err == nil && len(p) > 0 {
				report(p)
			}
		}
	}
}

// watched runs a Citus placement call, reporting its progress every ProgressInterval while it
// runs when progress is not nil; the watcher has ended when watched returns.
func (db *DB) watched(ctx context.Context, progress func([]ShardProgress), run func() error) error {
	if progress == nil {
		return run()
	}
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		db.watchProgress(ctx, ProgressInterval, progress, stop)
	}()
	err := run()
	close(stop)
	<-watched
	return err
}

// MoveResult is what MoveTenant did.
type MoveResult struct {
	Tenant   string
	From, To string // host:port
	Bytes    int64  // the tenant's size when it was moved
	Moved    bool   // false: it was on To already
	Duration time.Duration
}

// MoveWatch is what a caller of MoveTenant may want to hear; both are optional.
type MoveWatch struct {
	// Started is called once the tenant, the node and the tenant's size are known and the move
	// begins (not when the tenant is on the node already).
	Started func(MoveResult)
	// Progress is called every ProgressInterval with the shards under way.
	Progress func([]ShardProgress)
}

// ProgressInterval is how often MoveTenant and Rebalance report progress.
const ProgressInterval = 500 * time.Millisecond

// transferMode is how moves copy a tenant: Citus's block_writes, so writes to the tenant wait
// while it is copied (reads go on). Not its default (logical replication, writes going on until
// the final switch): with that, TestCitusMoveAndRebalanceWhileServing lost acknowledged writes
// (2 to 15 of ~1,000 to-dos that had been answered 201) in 3 of 15 runs on Citus 13.0.5, in every
// pgx query mode tried; with block_writes none in 15 runs, and a small tenant's move took 0.3-0.6 s
// instead of 3.3 s.
const transferMode = "block_writes"

// MoveTenant moves the tenant name's schema to the node at to (HOST:PORT) with Citus's
// citus_schema_move (transferMode: writes to the tenant wait while it is copied; reads go on
// throughout). w's functions, if set, hear when the move starts and how it goes.
//
// Returns EINVALID outside Citus mode, for a bad address, or when the tenant's schema is not
// distributed (toodoo migrate distributes it), and ENOTFOUND for an unknown (or deleted) tenant
// or node.
func (db *DB) MoveTenant(ctx context.Context, name, to string, w MoveWatch) (MoveResult, error) {
	res := MoveResult{Tenant: name}
	if err := db.requireCitus(); err != nil {
		return res, err
	}
	if _, _, err := ParseNodeAddr(to); err != nil {
		return res, err
	}
	t, err := db.Get(ctx, name)
	if err != nil {
		return res, err
	}
	if t.Status == StatusDeleted {
		return res, errNoTenant(name)
	}
	nodes, err := db.Nodes(ctx)
	if err != nil {
		return res, err
	}
	target, err := findNode(nodes, to)
	if err != nil {
		return res, err
	}
	res.To = target.Addr()
	if res.From, err = placement(ctx, db.pool, name); err != nil {
		return res, fmt.Errorf("tenancy: find tenant %q: %w", name, err)
	}
	if res.From == "" {
		return res, toodoo.Invalid("tenant", "The tenant %q is not distributed yet: run toodoo migrate, which distributes every tenant in Citus mode.", name)
	}
	if err := db.pool.QueryRow(ctx, `SELECT coalesce(sum(pg_catalog.citus_total_relation_size(p.logicalrelid)), 0)::bigint
		FROM pg_catalog.pg_dist_partition p JOIN pg_catalog.pg_dist_schema ds ON ds.colocationid = p.colocationid
		WHERE ds.schemaid = $1::regnamespace`, pgx.Identifier{name}.Sanitize()).Scan(&res.Bytes); err != nil {
		return res, fmt.Errorf("tenancy: size of tenant %q: %w", name, err)
	}
	if res.From == res.To {
		return res, nil
	}
	if w.Started != nil {
		w.Started(res)
	}
	start := time.Now()
	err = db.watched(ctx, w.Progress, func() error {
		_, err := db.pool.Exec(ctx, "SELECT citus_schema_move($1::regnamespace, $2::text, $3::int, shard_transfer_mode => $4::citus.shard_transfer_mode)", pgx.Identifier{name}.Sanitize(), target.Host, target.Port, transferMode)
		return err
	})
	res.Duration = time.Since(start)
	if err != nil {
		return res, fmt.Errorf("tenancy: move tenant %q to %s: %w", name, res.To, err)
	}
	res.Moved = true
	return res, nil
}

// PlannedMove is one move of the rebalancer's plan: a tenant schema (or another distributed
// schema, such as a spare) from one node to another.
type PlannedMove struct {
	Schema   string `json:"schema"`
	Tenant   bool   `json:"tenant"` // the schema is a tenant's (not a spare's)
	From     string `json:"from"`   // host:port
	To       string `json:"to"`
	Bytes    int64  `json:"bytes"`
	ShardIDs []int64
}

// rebalancePlanSQL is Citus's rebalancer's plan, one row per shard group to move, named by the
// schema of its table, with the size of the whole group (the plan's own shard_size is 0 under
// the default strategy, which counts shards). Distributed tables outside schemas (Toodoo has none) show up with their
// own schema's name.
const rebalancePlanSQL = `
SELECT c.relnamespace::regnamespace::text, p.sourcename, p.sourceport, p.targetname, p.targetport,
       p.shardid,
       (SELECT coalesce(sum(pg_catalog.citus_total_relation_size(o.logicalrelid)), 0)::bigint
        FROM pg_catalog.pg_dist_partition o WHERE o.colocationid = sp.colocationid
          AND EXISTS (SELECT 1 FROM pg_catalog.pg_dist_shard os WHERE os.logicalrelid = o.logicalrelid)),
       EXISTS (SELECT 1 FROM public.tenants t WHERE t.schema_name = c.relnamespace::regnamespace::text)
FROM get_rebalance_table_shards_plan() p
JOIN pg_catalog.pg_class c ON c.oid = p.table_name
JOIN pg_catalog.pg_dist_partition sp ON sp.logicalrelid = p.table_name`

// RebalancePlan returns the moves Citus's rebalancer would make now (its default strategy),
// one per schema, without making them. Returns EINVALID outside Citus mode.
func (db *DB) RebalancePlan(ctx context.Context) ([]PlannedMove, error) {
	if err := db.requireCitus(); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, rebalancePlanSQL)
	if err != nil {
		return nil, fmt.Errorf("tenancy: plan the rebalance: %w", err)
	}
	var (
		moves            = map[string]*PlannedMove{}
		order            []string
		schema, from, to string
		fromPort, toPort int
		shardID, bytes   int64
		tenant           bool
	)
	_, err = pgx.ForEachRow(rows, []any{&schema, &from, &fromPort, &to, &toPort, &shardID, &bytes, &tenant}, func() error {
		m := moves[schema]
		if m == nil {
			m = &PlannedMove{Schema: schema, Tenant: tenant,
				From: net.JoinHostPort(from, strconv.Itoa(fromPort)), To: net.JoinHostPort(to, strconv.Itoa(toPort))}
			moves[schema] = m
			order = append(order, schema)
		}
		m.Bytes += bytes
		m.ShardIDs = append(m.ShardIDs, shardID)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tenancy: plan the rebalance: %w", err)
	}
	out := make([]PlannedMove, 0, len(order))
	for _, s := range order {
		out = append(out, *moves[s])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Schema < out[j].Schema })
	return out, nil
}

// Rebalance runs Citus's rebalancer (rebalance_table_shards, its default strategy) and waits for
// it: it moves schemas until the nodes are even, each move as MoveTenant makes it (writes to
// the tenant being moved wait for its copy). progress, if not nil, is called every ProgressInterval with the
// shards under way. It returns the time it took. Returns EINVALID outside Citus mode.
func (db *DB) Rebalance(ctx context.Context, progress func([]ShardProgress)) (time.Duration, error) {
	if err := db.requireCitus(); err != nil {
		return 0, err
	}
	start := time.Now()
	err := db.watched(ctx, progress, func() error {
		_, err := db.pool.Exec(ctx, "SELECT rebalance_table_shards(shard_transfer_mode => $1::citus.shard_transfer_mode)", transferMode)
		return err
	})
	if err != nil {
		return time.Since(start), fmt.Errorf("tenancy: rebalance: %w", err)
	}
	return time.Since(start), nil
}
