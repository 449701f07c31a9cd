package meta

import (
	"context"
	"fmt"
	"math"
	"strconv"
)

// AllocProducerIDs takes the next block of ProducerIDBlock producer ids
// (Kafka's ProducerIdManager: a CAS loop on one counter, pid/next, so no
// id is ever handed out twice, whoever asks at the same time). The block
// is [first, last].
func AllocProducerIDs(ctx context.Context, s Store) (first, last int64, err error) {
	for {
		kv, err := s.Get(ctx, ProducerIDKey)
		if err != nil {
			return 0, 0, fmt.Errorf("producer ids: %w", err)
		}
		var next int64
		if kv.Version != 0 {
			next, err = strconv.ParseInt(string(kv.Value), 10, 64)
			if err != nil || next < 0 {
				return 0, 0, fmt.Errorf("producer ids: %s holds %q", ProducerIDKey, kv.Value)
			}
		}
		if next > math.MaxInt64-ProducerIDBlock {
			return 0, 0, fmt.Errorf("producer ids: exhausted at %d", next)
		}
		ok, _, err := s.Txn(ctx, []Cmp{{Key: ProducerIDKey, Version: kv.Version}},
			[]Op{{Key: ProducerIDKey, Value: strconv.AppendInt(nil, next+ProducerIDBlock, 10)}})
		if err != nil {
			return 0, 0, fmt.Errorf("producer ids: %w", err)
		}
		if ok {
			return next, next + ProducerIDBlock - 1, nil
		}
		if err := ctx.Err(); err != nil {
			return 0, 0, fmt.Errorf("producer ids: %w", err)
		}
	}
}
