//go:build linux

package main

import (
	"io"
	"net"
	"time"
)

// linkRate is the per-connection bandwidth of the simulated slow link: a
// long-distance or shared link where one TCP stream gets far less than
// the path could carry (window / round-trip time), so how many streams a
// tool opens decides its speed, as against a registry across the world.
const linkRate = 64 << 20 // bytes per second, per connection

// startLink starts a TCP proxy to target that sends each connection's
// responses at most linkRate bytes per second, and returns its address.
func startLink(target string) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go throttle(c, target)
		}
	}()
	return ln.Addr().String(), func() { ln.Close() }, nil
}

func throttle(c net.Conn, target string) {
	defer c.Close()
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	buf := make([]byte, 64<<10)
	start, sent := time.Now(), int64(0)
	for {
		n, err := up.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
			sent += int64(n)
			due := time.Duration(float64(sent) / linkRate * float64(time.Second))
			if wait := due - time.Since(start); wait > 0 {
				time.Sleep(wait)
			}
		}
		if err != nil {
			return
		}
	}
}
