package web

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServeDrain: once Serve's context ends, /readyz answers 503 while /healthz and every other
// request are still served; when the drain ends, Serve stops accepting connections but lets the
// request in flight finish before it returns.
func TestServeDrain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// An hour: the drain ends when the test says so (EndDrain), never on a clock.
	srv := b.newServer(func(c *Config) { c.DrainDelay = time.Hour; c.ShutdownTimeout = 30 * time.Second })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	get := func(host, path string) (int, string, error) {
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		if err != nil {
			return 0, "", err
		}
		req.Host = host
		req.Close = true
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}
	mustGet := func(host, path string, want int) string {
		t.Helper()
		code, body, err := get(host, path)
		if err != nil || code != want {
			t.Fatalf("GET %s%s: %d %v, want %d\n%.500s", host, path, code, err, want, body)
		}
		return body
	}
	mustGet(testBase, "/readyz", http.StatusOK)

	// A request in flight: a login form whose body the server is reading (it answered
	// 100 Continue) and which the client has not finished sending.
	form := formBody("email", "nobody@example.com", "password", "wrong password")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", firstHost, len(form))
	rd := bufio.NewReader(conn)
	if line, err := rd.ReadString('\n'); err != nil || !strings.Contains(line, "100 Continue") {
		t.Fatalf("want 100 Continue, got %q, %v", line, err)
	}
	for line, _ := rd.ReadString('\n'); line != "\r\n"; line, _ = rd.ReadString('\n') {
		if line == "" {
			t.Fatal("connection closed after 100 Continue")
		}
	}
	if _, err := io.WriteString(conn, form[:5]); err != nil {
		t.Fatal(err)
	}

	cancel()
	// Draining: out of the balancer's rotation, still serving.
	for i := 0; ; i++ {
		code, body, err := get(testBase, "/readyz")
		if err != nil {
			t.Fatalf("readyz while draining: %v", err)
		}
		if code == http.StatusServiceUnavailable {
			if body != "draining\n" {
				t.Fatalf("readyz while draining: %q", body)
			}
			break
		}
		if i == 200 {
			t.Fatalf("readyz still %d after the context ended", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !srv.Draining() {
		t.Fatal("Draining() is false")
	}
	mustGet(testBase, "/healthz", http.StatusOK)
	if body := mustGet(firstHost, "/login", http.StatusOK); !strings.Contains(body, "First Team") {
		t.Fatalf("login page while draining:\n%.500s", body)
	}
	select {
	case err := <-done:
		t.Fatalf("Serve returned during the drain: %v", err)
	default:
	}

	// The drain ends: no new connections, the request in flight still finishes.
	srv.EndDrain()
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if i == 200 {
			t.Fatal("still accepting connections after the drain")
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Serve returned before the request in flight finished: %v", err)
	default:
	}
	if _, err := io.WriteString(conn, form[5:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatalf("the request in flight got no response: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "Wrong email or password") {
		t.Fatalf("the request in flight: %d\n%.500s", resp.StatusCode, body)
	}
	waitServe(t, done)
}
