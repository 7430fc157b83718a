package actors

import (
	"testing"

	"github.com/stretchr/testify/assert"

	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

func TestThePrevailingViewOfTheCluster(t *testing.T) {
	v := func(shards int32, ids ...string) *registrationv1.MembershipAnswer {
		return &registrationv1.MembershipAnswer{Members: ids, Shards: shards}
	}
	abc, bc, a := v(32, "a", "b", "c"), v(32, "b", "c"), v(32, "a")
	tests := []struct {
		name  string
		views []*registrationv1.MembershipAnswer
		want  *registrationv1.MembershipAnswer // nil: none prevails
	}{
		{"all agree", []*registrationv1.MembershipAnswer{abc, abc, abc}, abc},
		{"nobody answered: one's own", []*registrationv1.MembershipAnswer{a}, a},
		{"a zombie the others dropped", []*registrationv1.MembershipAnswer{abc, bc, bc}, bc},
		{"one member blocked another: the larger view wins", []*registrationv1.MembershipAnswer{bc, abc, abc}, abc},
		{"a healed partition: the majority's", []*registrationv1.MembershipAnswer{a, bc, bc}, bc},
		{"two members, one blocked the other: the larger view", []*registrationv1.MembershipAnswer{v(32, "b"), v(32, "a", "b")}, v(32, "a", "b")},
		{"another number of shards is another view", []*registrationv1.MembershipAnswer{v(64, "a", "b", "c"), abc, abc}, abc},
		{"a true tie", []*registrationv1.MembershipAnswer{v(32, "a", "b"), v(32, "b", "c")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := ""
			if tt.want != nil {
				want = viewKey(tt.want)
			}
			assert.Equal(t, want, prevailing(tt.views))
		})
	}
}
