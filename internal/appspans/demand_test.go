package appspans

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestWantIsCountedPerHolder: a service stays wanted until its last holder lets go, and a
// holder letting go twice counts once.
func TestWantIsCountedPerHolder(t *testing.T) {
	assert.False(t, Wanted("cart"))
	first, second := Want("cart"), Want("cart")
	other := Want("pay")
	assert.True(t, Wanted("cart"))
	first()
	first()
	assert.True(t, Wanted("cart"), "the second holder still wants it")
	second()
	assert.False(t, Wanted("cart"))
	assert.True(t, Wanted("pay"), "services are wanted apart")
	other()
	assert.False(t, Wanted("pay"))
}
