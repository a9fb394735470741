package main

// Developers: a stable identity (user.id, team, department, platform, terminal, protocol) and
// the resource every one of their sessions sends, encoded once.

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
)

type developer struct {
	idx      int
	userID   string
	team     int
	dept     string
	terminal string
	useHTTP  bool
	resource []byte // Resource{Metrics,Logs}.resource field, complete (tag, length, Resource)
	common   []byte // data-point attributes before session.id: resource copies, user.id
	sessions int    // sessions started so far
	prevID   []byte // the session.id a resumed session takes over

	rng *rand.Rand // this developer's own stream: same seed, same sessions

	// scheduling (owned by the scheduler while queued, by one worker while processed)
	due     int64 // unix nanoseconds of the next action
	heapIdx int
	retired bool

	s     *session // the open session, nil between sessions
	spare *session // the last session's struct, reused by the next
}

func teamName(i int) string { return fmt.Sprintf("team-%03d", i+1) }

// newDeveloper derives developer i from the seed alone.
func newDeveloper(cfg *config, i int) *developer {
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1))
	// user.id: the CLI's is a SHA-256 hex of a random install id.
	var seed [16]byte
	binary.LittleEndian.PutUint64(seed[:8], cfg.Seed)
	binary.LittleEndian.PutUint64(seed[8:], uint64(i))
	sum := sha256.Sum256(append([]byte("stackkit-loadgen-install:"), seed[:]...))
	d := &developer{
		idx:      i,
		userID:   hex.EncodeToString(sum[:]),
		team:     rng.IntN(cfg.Teams),
		terminal: terminals[rng.IntN(len(terminals))],
		useHTTP:  rng.Float64() < cfg.HTTPShare,
		rng:      rng,
	}
	d.dept = cfg.Departments[d.team%len(cfg.Departments)]
	p := platforms[pick(rng, platformWeights)]

	// OTEL_RESOURCE_ATTRIBUTES entries come first (as the CLI sends them), then the detected ones.
	attrs := [][2]string{{"team.id", teamName(d.team)}, {"department", d.dept}}
	attrs = append(attrs, cfg.ResourceAttributes...)
	var res []byte
	for _, kv := range attrs {
		res = appendKVString(res, fResourceAttrs, kv[0], kv[1])
	}
	res = appendKVString(res, fResourceAttrs, "host.arch", p.arch)
	res = appendKVString(res, fResourceAttrs, "os.type", p.osType)
	res = appendKVString(res, fResourceAttrs, "os.version", p.osVersion)
	res = appendKVString(res, fResourceAttrs, "service.name", serviceName)
	res = appendKVString(res, fResourceAttrs, "service.version", cfg.CLIVersion)
	d.resource = appendBytesField(nil, fResResource, res)

	// Every point and event carries the resource-attribute copies and user.id ...
	for _, kv := range attrs {
		d.common = appendKVString(d.common, fPointAttrs, kv[0], kv[1])
	}
	d.common = appendKVString(d.common, fPointAttrs, "user.id", d.userID)
	return d
}

var platformWeights = func() []float64 {
	w := make([]float64, len(platforms))
	for i, p := range platforms {
		w[i] = p.weight
	}
	return w
}()

// sessionAttrs returns the attributes common to every point of one session (field 7): the
// developer's, then session.id, anthropic.provider, anthropic.custom_base_url, terminal.type.
func (d *developer) sessionAttrs(dst []byte, sessionID []byte) []byte {
	dst = append(dst, d.common...)
	dst = appendKVStringBytes(dst, fPointAttrs, "session.id", sessionID)
	dst = appendKVString(dst, fPointAttrs, "anthropic.provider", "firstParty")
	dst = appendKVBool(dst, fPointAttrs, "anthropic.custom_base_url", false)
	return appendKVString(dst, fPointAttrs, "terminal.type", d.terminal)
}

// pick returns an index drawn with the given weights (they need not sum to 1).
func pick(rng *rand.Rand, weights []float64) int {
	total := 0.0
	for _, w := range weights {
		total += w
	}
	x := rng.Float64() * total
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

// IDs in the CLI's formats, from the developer's random stream.

const hexDigits = "0123456789abcdef"
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// appendUUID appends a random (version 4) UUID.
func appendUUID(b []byte, rng *rand.Rand) []byte {
	hi, lo := rng.Uint64(), rng.Uint64()
	hi = hi&^0xf000 | 0x4000     // version 4
	lo = lo&^(0xc<<60) | 0x8<<60 // variant 10
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[:8], hi)
	binary.BigEndian.PutUint64(raw[8:], lo)
	for i, x := range raw {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[x>>4], hexDigits[x&15])
	}
	return b
}

// appendBase62 appends n random base-62 characters.
func appendBase62(b []byte, rng *rand.Rand, n int) []byte {
	for n > 0 {
		x := rng.Uint64()
		for i := 0; i < 10 && n > 0; i++ {
			b = append(b, base62[x%62])
			x /= 62
			n--
		}
	}
	return b
}
