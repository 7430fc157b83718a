package gateway_test

import (
	"testing"
	"time"

	"github.com/acme/registrar/gateway"
	"github.com/acme/registrar/gateway/limittest"
)

func TestWindowLimiterContract(t *testing.T) {
	limittest.Run(t, func(_ *testing.T, limit int, window time.Duration) gateway.RateLimiter {
		return gateway.NewWindowLimiter(limit, window)
	})
}
