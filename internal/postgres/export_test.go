package postgres

import "context"

// WriterPIDs returns the server process ids of the store's idle writer connections, so that
// a test can end exactly those.
func WriterPIDs(ctx context.Context, s *Store) []uint32 {
	var pids []uint32
	for _, c := range s.w.AcquireAllIdle(ctx) {
		pids = append(pids, c.Conn().PgConn().PID())
		c.Release()
	}
	return pids
}
