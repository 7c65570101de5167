package netproxy_test

import (
	"fmt"
	"net"

	"github.com/citypass/citypass/fleet/netproxy"
)

// A proxy in front of a server: clients dial p.Addr(); Down cuts them off
// until Up.
func Example() {
	server, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer server.Close()

	p, err := netproxy.New(server.Addr().String(), &netproxy.Options{DownMode: netproxy.Blackhole})
	if err != nil {
		panic(err)
	}
	defer p.Close()

	p.Down() // a partition: new connections hang, existing ones are cut
	fmt.Println("up:", p.IsUp())
	p.Up()
	fmt.Println("up:", p.IsUp(), "toggles:", p.Stats().Toggles)
	// Output:
	// up: false
	// up: true toggles: 2
}
