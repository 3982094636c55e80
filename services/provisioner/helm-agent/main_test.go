package main

// The request loop (serve, dispatch, handle) with a fake in place of Helm: how a cancel meets
// its request, whenever it comes. No cluster is needed.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	log.SetOutput(io.Discard) // one line per request; the tests read the answers instead
	os.Exit(m.Run())
}

// newTestAgent returns an agent whose requests run `run`, and its answers as they are written.
func newTestAgent(t *testing.T, run func(ctx context.Context, req *request) error) (*agent, <-chan answer) {
	t.Helper()
	outR, outW := io.Pipe()
	a := &agent{out: bufio.NewWriter(outW), running: map[int64]*call{}}
	a.run = func(ctx context.Context, req *request) (answer, error) { return answer{}, run(ctx, req) }
	answers := make(chan answer, 1024)
	decoded := make(chan struct{})
	go func() {
		defer close(decoded)
		defer close(answers)
		scanner := bufio.NewScanner(outR)
		for scanner.Scan() {
			var ans answer
			if err := json.Unmarshal(scanner.Bytes(), &ans); err != nil {
				t.Errorf("an answer that is not JSON: %q", scanner.Text())
				continue
			}
			answers <- ans
		}
	}()
	t.Cleanup(func() {
		a.inflight.Wait()
		outW.Close()
		<-decoded
	})
	return a, answers
}

func nextAnswer(t *testing.T, answers <-chan answer) answer {
	t.Helper()
	select {
	case ans, ok := <-answers:
		if !ok {
			t.Fatal("no answer: the output closed")
		}
		return ans
	case <-time.After(10 * time.Second):
		t.Fatal("no answer within 10 s")
	}
	return answer{}
}

// assertNothingLeft waits for every request to end and checks that none is still registered.
func assertNothingLeft(t *testing.T, a *agent) {
	t.Helper()
	a.inflight.Wait()
	a.runMu.Lock()
	defer a.runMu.Unlock()
	if len(a.running) != 0 {
		t.Errorf("%d requests are still registered after every one ended", len(a.running))
	}
}

func installLine(id int64) string {
	return fmt.Sprintf(`{"id":%d,"op":"upgrade_install","release":"store","namespace":"store-%d","chart":"/charts/store"}`+"\n", id, id)
}

func cancelLine(id int64) string {
	return fmt.Sprintf(`{"id":%d,"op":"cancel"}`+"\n", id)
}

// The provisioner writes a request and, when its caller gives up, that request's cancel on the
// same stream: the agent can read the cancel before the request's goroutine has run at all.
// Here it always does: each request's goroutine is held until the whole input was read and
// acted on. The cancel must still reach the request, which then touches nothing.
func TestACancelReadBeforeItsRequestRunsIsNotLost(t *testing.T) {
	var ran atomic.Bool
	a, answers := newTestAgent(t, func(ctx context.Context, req *request) error {
		ran.Store(true)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
			return nil // a lost cancel: the install went on to the end
		}
	})
	served := make(chan struct{})
	a.beforeHandle = func(*request) { <-served }

	if err := a.serve(strings.NewReader(installLine(1) + cancelLine(1))); err != nil {
		t.Fatal(err)
	}
	close(served)

	got := nextAnswer(t, answers)
	if want := (answer{ID: 1, Error: "Error: cancelled"}); got != want {
		t.Errorf("answer %+v, want %+v", got, want)
	}
	if ran.Load() {
		t.Error("the action ran although its request was cancelled before it started")
	}
	assertNothingLeft(t, a)
}

// A cancel during the action ends the action's context, and the answer says so.
func TestACancelDuringTheActionEndsItsContext(t *testing.T) {
	started := make(chan struct{})
	sawCancel := make(chan error, 1)
	a, answers := newTestAgent(t, func(ctx context.Context, req *request) error {
		close(started)
		select {
		case <-ctx.Done():
			sawCancel <- ctx.Err()
			return fmt.Errorf("helm agent: the call was cancelled: %w", ctx.Err())
		case <-time.After(10 * time.Second):
			sawCancel <- nil
			return nil
		}
	})
	in, input := io.Pipe()
	served := make(chan error, 1)
	go func() { served <- a.serve(in) }()

	io.WriteString(input, installLine(7))
	<-started
	io.WriteString(input, cancelLine(7))
	if err := <-sawCancel; !errors.Is(err, context.Canceled) {
		t.Errorf("the action's context ended with %v, want context.Canceled", err)
	}
	got := nextAnswer(t, answers)
	if got.ID != 7 || got.OK || !strings.Contains(got.Error, "cancelled") {
		t.Errorf("answer %+v, want id 7 failed as cancelled", got)
	}
	input.Close()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, a)
}

// A cancel for a request that already finished (the provisioner gave up as the answer was on
// its way) or for an id never seen does nothing: no answer, no error, and the next request
// runs with a live context.
func TestACancelOfAFinishedOrUnknownRequestIsHarmless(t *testing.T) {
	a, answers := newTestAgent(t, func(ctx context.Context, req *request) error {
		return ctx.Err()
	})
	in, input := io.Pipe()
	served := make(chan error, 1)
	go func() { served <- a.serve(in) }()

	io.WriteString(input, installLine(1))
	if got := nextAnswer(t, answers); got != (answer{ID: 1, OK: true}) {
		t.Fatalf("answer %+v, want id 1 ok", got)
	}
	a.inflight.Wait() // request 1 has ended, not only answered
	io.WriteString(input, cancelLine(1))
	io.WriteString(input, cancelLine(42))
	io.WriteString(input, "not json\n")
	io.WriteString(input, installLine(2))
	if got := nextAnswer(t, answers); got != (answer{ID: 2, OK: true}) {
		t.Errorf("answer %+v, want id 2 ok", got)
	}
	input.Close()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, a)
	select {
	case extra, ok := <-answers:
		if ok {
			t.Errorf("an answer nobody asked for: %+v", extra)
		}
	default:
	}
}

// Many requests, every other one cancelled on the very next line, as fast as they can be
// read: each cancelled one answers cancelled, each other one ok, and none stays registered.
func TestEveryCancelReachesItsRequestUnderLoad(t *testing.T) {
	const requests = 200
	a, answers := newTestAgent(t, func(ctx context.Context, req *request) error {
		if req.ID%2 == 0 {
			return ctx.Err()
		}
		select {
		case <-ctx.Done():
			return nil // answered "cancelled" by handle
		case <-time.After(2 * time.Second):
			return errors.New("never cancelled")
		}
	})
	var input strings.Builder
	for id := int64(1); id <= requests; id++ {
		input.WriteString(installLine(id))
		if id%2 == 1 {
			input.WriteString(cancelLine(id))
		}
	}
	if err := a.serve(strings.NewReader(input.String())); err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	var wrong []string
	for range requests {
		got := nextAnswer(t, answers)
		if seen[got.ID] {
			t.Errorf("a second answer for %d", got.ID)
		}
		seen[got.ID] = true
		want := answer{ID: got.ID, OK: true}
		if got.ID%2 == 1 {
			want = answer{ID: got.ID, Error: "Error: cancelled"}
		}
		if got != want {
			wrong = append(wrong, fmt.Sprintf("%+v", got))
		}
	}
	if len(wrong) > 0 {
		t.Errorf("%d of %d answers are wrong (lost cancels), first %s", len(wrong), requests, wrong[0])
	}
	assertNothingLeft(t, a)
}
