// Command storefleet-dnsrelay is the real node's kube-dns pod: it relays DNS queries (UDP and
// TCP) from the pod network to the node's CoreDNS on the host (infra/local/parts/realnode.sh).
// Store NetworkPolicies allow DNS only to pods labelled k8s-app=kube-dns in kube-system, and a
// NetworkPolicy enforcer never counts a host process as such a pod, so the relay is that pod:
// it runs on the pod network (a static pod of the kubelet) and answers nothing itself.
package main

import (
	"errors"
	"flag"
	"io"
	"log"
	"net"
	"os"
	"sync"
	"time"
)

const timeout = 5 * time.Second

func main() {
	listen := flag.String("listen", ":53", "address to answer on (UDP and TCP)")
	upstream := flag.String("upstream", "10.245.0.1:53", "the DNS server to relay to")
	flag.Parse()

	udp, err := net.ListenPacket("udp", *listen)
	if err != nil {
		log.Fatalf("listen udp %s: %v", *listen, err)
	}
	tcp, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("listen tcp %s: %v", *listen, err)
	}
	log.Printf("relaying DNS on %s to %s", *listen, *upstream)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); serveUDP(udp, *upstream) }()
	go func() { defer wg.Done(); serveTCP(tcp, *upstream) }()
	wg.Wait()
	os.Exit(1)
}

func serveUDP(conn net.PacketConn, upstream string) {
	buf := make([]byte, 65535)
	for {
		n, client, err := conn.ReadFrom(buf)
		if err != nil {
			log.Printf("udp read: %v", err)
			return
		}
		query := append([]byte(nil), buf[:n]...)
		go func() {
			answer, err := exchangeUDP(query, upstream)
			if err != nil {
				log.Printf("udp relay for %s: %v", client, err)
				return
			}
			if _, err := conn.WriteTo(answer, client); err != nil {
				log.Printf("udp answer to %s: %v", client, err)
			}
		}()
	}
}

func exchangeUDP(query []byte, upstream string) ([]byte, error) {
	up, err := net.DialTimeout("udp", upstream, timeout)
	if err != nil {
		return nil, err
	}
	defer up.Close()
	if err := up.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	if _, err := up.Write(query); err != nil {
		return nil, err
	}
	answer := make([]byte, 65535)
	n, err := up.Read(answer)
	if err != nil {
		return nil, err
	}
	return answer[:n], nil
}

func serveTCP(ln net.Listener, upstream string) {
	for {
		client, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			log.Printf("tcp accept: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go relayTCP(client, upstream)
	}
}

// relayTCP copies one client connection to the upstream and back (DNS over TCP is a stream of
// length-prefixed messages, so bytes pass through unchanged), for at most 30 s.
func relayTCP(client net.Conn, upstream string) {
	defer client.Close()
	up, err := net.DialTimeout("tcp", upstream, timeout)
	if err != nil {
		log.Printf("tcp relay for %s: %v", client.RemoteAddr(), err)
		return
	}
	defer up.Close()
	deadline := time.Now().Add(30 * time.Second)
	_ = client.SetDeadline(deadline)
	_ = up.SetDeadline(deadline)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, client); done <- struct{}{} }()
	go func() { _, _ = io.Copy(client, up); done <- struct{}{} }()
	<-done
}
