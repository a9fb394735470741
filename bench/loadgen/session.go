package main

// One Claude Code process: its session.id, its counters (one slot per series it has recorded,
// as the CLI's SDK keeps them) and its timeline of export intervals and event windows.

import "math"

// slot is the state of one series in one session.
type slot struct {
	series   int32
	exported bool    // exported at least once (delta start time is then the previous export)
	touched  bool    // recorded since the last export
	first    int64   // when the series was first recorded (cumulative start time)
	total    float64 // since the session started
	pending  float64 // since the last export (delta value)
	acked    float64 // total at the last accepted cumulative export
}

type session struct {
	id         []byte // UUID text
	cumulative bool
	model      int // the session's model (auxiliary requests use haiku)
	effort     int // the session's effort setting
	start      int64
	ticksLeft  int   // metrics exports left, the last one being the exit flush
	nextTick   int64 // next metrics export
	lastExport int64
	ivStart    int64   // start of the current export interval
	win        []uint8 // prompts per event window of the current interval
	winIdx     int     // next window to play
	startup    bool    // start-up events not yet sent
	seq        int64   // event.sequence
	pointAttrs []byte  // attributes common to every data point (field 7)
	logAttrs   []byte  // the same for log records (field 6)
	slots      []slot
	slotOf     []int16 // series -> index in slots, -1 when not recorded yet
	send       sender  // own connection (-conns 0), else nil
}

func newSession(nSeries, nWin int) *session {
	s := &session{slotOf: make([]int16, nSeries), win: make([]uint8, nWin)}
	for i := range s.slotOf {
		s.slotOf[i] = -1
	}
	return s
}

// reset readies a used session struct for the next session of the same developer.
func (s *session) reset() {
	for _, sl := range s.slots {
		s.slotOf[sl.series] = -1
	}
	s.slots = s.slots[:0]
	s.id = s.id[:0]
	s.pointAttrs = s.pointAttrs[:0]
	s.logAttrs = s.logAttrs[:0]
	s.seq = 0
	s.send = nil
}

// add records v on a series at time t (a zero value still creates the point, as in the CLI).
func (s *session) add(series int, v float64, t int64) {
	i := s.slotOf[series]
	if i < 0 {
		i = int16(len(s.slots))
		s.slots = append(s.slots, slot{series: int32(series), first: t})
		s.slotOf[series] = i
	}
	sl := &s.slots[i]
	sl.total += v
	sl.pending += v
	sl.touched = true
}

// plan draws the prompts of the interval starting at ivStart and spreads them over its windows.
func (s *session) plan(w *worker, d *developer) {
	clear(s.win)
	s.winIdx = 0
	for range poisson(d, w.cfg.Prompts) {
		s.win[d.rng.IntN(len(s.win))]++
	}
}

// windowEnd is the end of event window i of the current interval.
func (s *session) windowEnd(i int, logsInterval int64) int64 {
	return min(s.ivStart+int64(i+1)*logsInterval, s.nextTick)
}

// nextDue is when this session next has something to do: a window with events or the export.
func (s *session) nextDue(logsInterval int64) int64 {
	for i := s.winIdx; i < len(s.win); i++ {
		if s.win[i] > 0 || (i == 0 && s.startup) {
			return s.windowEnd(i, logsInterval)
		}
	}
	return s.nextTick
}

func poisson(d *developer, lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 30 { // normal approximation
		return max(0, int(math.Round(lambda+math.Sqrt(lambda)*d.rng.NormFloat64())))
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= d.rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}
