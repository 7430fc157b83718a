package actorstest_test

import (
	"testing"

	"github.com/acme/registrar/actors/actorstest"
	"github.com/acme/registrar/actors/storetest"
)

func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Subject { return actorstest.NewStore() })
}
