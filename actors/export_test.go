package actors

import (
	"runtime"
	"sync"
	"weak"
)

// TrackActors makes the actors created from now on known to the returned
// function, which reports how many of them are still reachable after a
// collection. Call it before the registry is built, and call stop when done.
func TrackActors() (alive func() int, stop func()) {
	var (
		mu   sync.Mutex
		seen []weak.Pointer[registrationActor]
	)
	onNewActor = func(a *registrationActor) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, weak.Make(a))
	}
	alive = func() int {
		runtime.GC()
		runtime.GC()
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, p := range seen {
			if p.Value() != nil {
				n++
			}
		}
		return n
	}
	return alive, func() { onNewActor = nil }
}
