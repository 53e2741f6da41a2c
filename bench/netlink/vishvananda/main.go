// Command vishvananda is the peer contender of `deno task bench:netlink`: it creates and configures veth pairs
// (MTU, up on both ends) inside a network namespace with github.com/vishvananda/netlink, using one persistent
// handle opened in that namespace (the library's fastest usage), and prints the elapsed seconds as JSON.
//
//	vishvananda -netns /run/netns/NAME -count 1000 -mtu 1400 -group 4242
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func main() {
	nsPath := flag.String("netns", "", "network namespace path (required)")
	count := flag.Int("count", 1000, "veth pairs to create")
	mtu := flag.Int("mtu", 1400, "MTU of both ends")
	prefix := flag.String("prefix", "gv", "interface name prefix")
	group := flag.Uint("group", 0, "link group of the first ends (for the harness's teardown)")
	flag.Parse()
	if *nsPath == "" {
		fmt.Fprintln(os.Stderr, "vishvananda: -netns is required")
		os.Exit(2)
	}
	ns, err := netns.GetFromPath(*nsPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vishvananda: open %s: %v\n", *nsPath, err)
		os.Exit(1)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vishvananda: handle in %s: %v\n", *nsPath, err)
		os.Exit(1)
	}
	defer h.Close()

	start := time.Now()
	for i := 0; i < *count; i++ {
		a, b := fmt.Sprintf("%sa%d", *prefix, i), fmt.Sprintf("%sb%d", *prefix, i)
		veth := &netlink.Veth{
			LinkAttrs: netlink.LinkAttrs{Name: a, MTU: *mtu, Flags: net.FlagUp, Group: uint32(*group)},
			PeerName:  b,
			PeerMTU:   uint32(*mtu),
		}
		if err := h.LinkAdd(veth); err != nil {
			fmt.Fprintf(os.Stderr, "vishvananda: add %s: %v\n", a, err)
			os.Exit(1)
		}
		peer, err := h.LinkByName(b)
		if err == nil {
			err = h.LinkSetUp(peer)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "vishvananda: up %s: %v\n", b, err)
			os.Exit(1)
		}
	}
	out, _ := json.Marshal(map[string]float64{"create_s": time.Since(start).Seconds()})
	fmt.Println(string(out))
}
