package actorstest_test

import (
	"testing"

	"github.com/acme/registrar/actors/actorstest"
	"github.com/acme/registrar/actors/storetest"
	"github.com/acme/registrar/messaging"
	"github.com/acme/registrar/messaging/outboxtest"
)

func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Subject { return actorstest.NewStore() })
}

func TestOutboxContract(t *testing.T) {
	outboxtest.Run(t, func(t *testing.T) (messaging.Outbox, outboxtest.Add) {
		s := actorstest.NewStore()
		return s, storetest.OutboxAdd(s)
	})
}
