package main

// A worker plays one developer's due step: start a session, play due event windows (sending
// each as a logs export), send the metrics export when the interval is over, and end the
// session after its last one (the exit flush) or at once when the run stops.

import "time"

type worker struct {
	run       *run
	cfg       *config
	cat       *catalogue
	acct      *acct
	logsNanos int64
	interval  int64
	nWin      int

	meterScope, loggerScope []byte

	// reused buffers
	rb, recs, mb, scope, req []byte
	nRecs                    int
	tally                    tally
	expo                     []expo
	promptID, requestID      []byte
	toolUseID, uuid, ts      []byte
}

func newWorker(r *run) *worker {
	interval := int64(r.cfg.Interval)
	logs := int64(r.cfg.LogsInterval)
	return &worker{
		run:         r,
		cfg:         r.cfg,
		cat:         r.cat,
		acct:        newAcct(r.cat, r.cfg),
		logsNanos:   logs,
		interval:    interval,
		nWin:        int((interval + logs - 1) / logs),
		meterScope:  scopeField(meterScope, r.cfg.CLIVersion),
		loggerScope: scopeField(loggerScope, r.cfg.CLIVersion),
	}
}

// process plays what is due for d and sets d.due (or d.retired).
func (w *worker) process(d *developer) {
	now := time.Now().UnixNano()
	r := w.run
	if s := d.s; s != nil {
		if r.stopping.Load() {
			w.endSession(d, now, true)
			d.retired = true
			return
		}
		w.advance(d, s, now)
		if d.s != nil {
			d.due = s.nextDue(w.logsNanos)
			return
		}
		w.afterSession(d, now)
		return
	}
	if r.stopping.Load() || !r.reserve() {
		d.retired = true
		return
	}
	w.startSession(d, now, false)
	d.due = d.s.nextDue(w.logsNanos)
}

// afterSession follows a session that ended on its own: with probability -resume-share the
// developer resumes it at once (claude --resume), else thinks, then starts a fresh one (if any
// may start).
func (w *worker) afterSession(d *developer, now int64) {
	r := w.run
	if !r.mayStart() {
		d.retired = true
		return
	}
	// No draw without resumes: a run without them plays exactly as before the flag existed.
	if w.cfg.ResumeShare > 0 && d.rng.Float64() < w.cfg.ResumeShare {
		if !r.reserve() {
			d.retired = true
			return
		}
		w.startSession(d, now, true)
		d.due = d.s.nextDue(w.logsNanos)
		return
	}
	think := w.cfg.ThinkMin + d.rng.Float64()*(w.cfg.ThinkMax-w.cfg.ThinkMin)
	d.due = now + int64(think*float64(w.interval))
}

// startSession starts a Claude Code process. A resumed one (claude --resume, claude -c) takes
// over the session that just ended: its session.id, its temporality, model and effort (the
// developer's settings), but as a new process it counts from zero (its own cumulative start
// times) and reports session.count with start_type resume.
func (w *worker) startSession(d *developer, now int64, resume bool) {
	s := d.spare // the developer's last session, if any
	resume = resume && s != nil
	if s == nil {
		s = newSession(len(w.cat.series), w.nWin)
	}
	if resume {
		d.prevID = append(d.prevID[:0], s.id...)
	}
	s.reset()
	d.s, d.spare = s, nil
	d.sessions++
	if resume {
		s.id = append(s.id, d.prevID...)
	} else {
		s.id = appendUUID(s.id, d.rng)
		s.cumulative = d.rng.Float64() < w.cfg.CumulativeShare
		// A session keeps its model and effort, as the CLI does unless the user switches them.
		s.model = pick(d.rng, modelWeights)
		s.effort = pick(d.rng, effortWeights)
	}
	s.start, s.lastExport, s.ivStart = now, now, now
	s.nextTick = now + w.interval
	s.ticksLeft = w.cfg.SessionMin + d.rng.IntN(w.cfg.SessionMax-w.cfg.SessionMin+1)
	s.startup = true
	s.pointAttrs = d.sessionAttrs(s.pointAttrs, s.id)
	s.logAttrs = retag(s.logAttrs, s.pointAttrs, fLogAttrs)
	if w.cfg.Conns == 0 {
		s.send = w.run.newSender(d.useHTTP)
	}
	if resume {
		s.add(w.cat.resume, 1, now) // session.count, start_type resume
		w.acct.sessionsResumed++
	} else {
		s.add(w.cat.session, 1, now) // session.count, start_type fresh
	}
	s.plan(w, d)
	w.acct.sessionsStarted++
	if s.cumulative {
		w.acct.sessionsCumulative++
	}
}

// advance plays the event windows that have ended by now, then the metrics export if due.
func (w *worker) advance(d *developer, s *session, now int64) {
	w.playWindows(d, s, now)
	if now < s.nextTick {
		return
	}
	s.ticksLeft--
	if s.ticksLeft <= 0 {
		w.endSession(d, now, false)
		return
	}
	w.exportMetrics(d, s, now)
	s.ivStart = s.nextTick
	s.nextTick += w.interval
	if s.nextTick <= now { // far behind schedule: do not try to catch up
		s.nextTick = now + w.interval
	}
	s.plan(w, d)
}

// playWindows plays every event window ending by now, each exported on its own.
func (w *worker) playWindows(d *developer, s *session, now int64) {
	for s.winIdx < len(s.win) && s.windowEnd(s.winIdx, w.logsNanos) <= now {
		i := s.winIdx
		s.winIdx++
		if s.win[i] > 0 || (i == 0 && s.startup) {
			w.window(d, s, i)
			w.exportLogs(d, s)
		}
	}
}

// endSession is the CLI's exit: events so far, then the final metrics export. cut marks a
// session ended early by the stop.
func (w *worker) endSession(d *developer, s0 int64, cut bool) {
	s := d.s
	if w.run.abandon.Load() {
		w.acct.sessionsAbandoned++
	} else {
		if cut {
			w.playWindows(d, s, s0)
			w.acct.sessionsCut++
		}
		w.exportMetrics(d, s, s0)
		w.acct.sessionsFinished++
	}
	if s.send != nil {
		s.send.close()
	}
	d.s, d.spare = nil, s
}
