package main

// Protobuf wire-format helpers. OTLP requests are written by hand, by appending bytes: what never
// changes (resource, scope, metric headers, a series' own attributes, a session's common
// attributes) is encoded once and copied; only timestamps, values and a few event fields are
// encoded per request. wire_test.go decodes the result with the official OTLP Go types.

import (
	"encoding/binary"
	"math"
)

const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
)

// OTLP field numbers used here (opentelemetry/proto v1).
const (
	fReqResource = 1 // Export{Metrics,Logs}ServiceRequest.resource_{metrics,logs}

	fResResource = 1 // Resource{Metrics,Logs}.resource
	fResScope    = 2 // Resource{Metrics,Logs}.scope_{metrics,logs}

	fResourceAttrs = 1 // Resource.attributes

	fScopeScope = 1 // Scope{Metrics,Logs}.scope
	fScopeItems = 2 // ScopeMetrics.metrics / ScopeLogs.log_records

	fScopeName    = 1 // InstrumentationScope.name
	fScopeVersion = 2 // InstrumentationScope.version

	fMetricName = 1
	fMetricDesc = 2
	fMetricUnit = 3
	fMetricSum  = 7

	fSumPoints      = 1
	fSumTemporality = 2
	fSumMonotonic   = 3

	fPointStart    = 2
	fPointTime     = 3
	fPointAsDouble = 4
	fPointAttrs    = 7

	fLogTime     = 1
	fLogBody     = 5
	fLogAttrs    = 6
	fLogObserved = 11

	fKVKey   = 1
	fKVValue = 2

	fAnyString = 1
	fAnyBool   = 2
	fAnyInt    = 3
	fAnyDouble = 4
	fAnyArray  = 5

	temporalityDelta      = 1
	temporalityCumulative = 2
)

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendTag(b []byte, field, wire int) []byte {
	return appendVarint(b, uint64(field)<<3|uint64(wire))
}

// appendBytesField appends a length-delimited field (a string, bytes or an encoded message).
func appendBytesField(b []byte, field int, v []byte) []byte {
	b = appendTag(b, field, wireBytes)
	b = appendVarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendStringField(b []byte, field int, v string) []byte {
	b = appendTag(b, field, wireBytes)
	b = appendVarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendFixed64Field(b []byte, field int, v uint64) []byte {
	b = appendTag(b, field, wireFixed64)
	return binary.LittleEndian.AppendUint64(b, v)
}

func appendDoubleField(b []byte, field int, v float64) []byte {
	return appendFixed64Field(b, field, math.Float64bits(v))
}

func appendVarintField(b []byte, field int, v uint64) []byte {
	b = appendTag(b, field, wireVarint)
	return appendVarint(b, v)
}

func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// appendHeader appends the tag and length of a length-delimited field whose payload (n bytes)
// the caller appends next.
func appendHeader(b []byte, field, n int) []byte {
	b = appendTag(b, field, wireBytes)
	return appendVarint(b, uint64(n))
}

// Attributes: each KeyValue is a complete repeated-field entry (tag, length, KeyValue), so
// pre-encoded attribute lists are concatenated as they are. `field` is the attribute field of the
// enclosing message (fPointAttrs, fLogAttrs or fResourceAttrs).

func appendKVString(b []byte, field int, key, val string) []byte {
	anyLen := 1 + varintLen(uint64(len(val))) + len(val)
	kvLen := 1 + varintLen(uint64(len(key))) + len(key) + 1 + varintLen(uint64(anyLen)) + anyLen
	b = appendHeader(b, field, kvLen)
	b = appendStringField(b, fKVKey, key)
	b = appendHeader(b, fKVValue, anyLen)
	return appendStringField(b, fAnyString, val)
}

// appendKVStringBytes is appendKVString for a value held in a byte slice (no conversion).
func appendKVStringBytes(b []byte, field int, key string, val []byte) []byte {
	anyLen := 1 + varintLen(uint64(len(val))) + len(val)
	kvLen := 1 + varintLen(uint64(len(key))) + len(key) + 1 + varintLen(uint64(anyLen)) + anyLen
	b = appendHeader(b, field, kvLen)
	b = appendStringField(b, fKVKey, key)
	b = appendHeader(b, fKVValue, anyLen)
	return appendBytesField(b, fAnyString, val)
}

// appendKVInt appends an intValue attribute (the JavaScript SDK sends integral numbers so).
func appendKVInt(b []byte, field int, key string, val int64) []byte {
	anyLen := 1 + varintLen(uint64(val))
	kvLen := 1 + varintLen(uint64(len(key))) + len(key) + 1 + varintLen(uint64(anyLen)) + anyLen
	b = appendHeader(b, field, kvLen)
	b = appendStringField(b, fKVKey, key)
	b = appendHeader(b, fKVValue, anyLen)
	return appendVarintField(b, fAnyInt, uint64(val))
}

func appendKVDouble(b []byte, field int, key string, val float64) []byte {
	anyLen := 9
	kvLen := 1 + varintLen(uint64(len(key))) + len(key) + 1 + varintLen(uint64(anyLen)) + anyLen
	b = appendHeader(b, field, kvLen)
	b = appendStringField(b, fKVKey, key)
	b = appendHeader(b, fKVValue, anyLen)
	return appendDoubleField(b, fAnyDouble, val)
}

func appendKVBool(b []byte, field int, key string, val bool) []byte {
	anyLen := 2
	kvLen := 1 + varintLen(uint64(len(key))) + len(key) + 1 + varintLen(uint64(anyLen)) + anyLen
	b = appendHeader(b, field, kvLen)
	b = appendStringField(b, fKVKey, key)
	b = appendHeader(b, fKVValue, anyLen)
	v := uint64(0)
	if val {
		v = 1
	}
	return appendVarintField(b, fAnyBool, v)
}

// appendKVEmptyArray appends an attribute whose value is an empty array (arrayValue {}).
func appendKVEmptyArray(b []byte, field int, key string) []byte {
	anyLen := 2 // tag + zero length
	kvLen := 1 + varintLen(uint64(len(key))) + len(key) + 1 + varintLen(uint64(anyLen)) + anyLen
	b = appendHeader(b, field, kvLen)
	b = appendStringField(b, fKVKey, key)
	b = appendHeader(b, fKVValue, anyLen)
	return appendHeader(b, fAnyArray, 0)
}

// retag re-encodes a list of attribute entries written for one field number under another
// (a session's common attributes go on data points, field 7, and on log records, field 6).
func retag(dst, src []byte, field int) []byte {
	for len(src) > 0 {
		_, n := binary.Uvarint(src) // tag (one byte for fields < 16)
		src = src[n:]
		l, m := binary.Uvarint(src)
		src = src[m:]
		dst = appendBytesField(dst, field, src[:l])
		src = src[l:]
	}
	return dst
}

// readPartialSuccess returns rejected_data_points / rejected_log_records from an OTLP export
// response (field 1 partial_success, whose field 1 is the count) and its error_message.
func readPartialSuccess(b []byte) (rejected int64, msg string) {
	walk(b, func(field, wire int, v uint64, data []byte) {
		if field == 1 && wire == wireBytes {
			walk(data, func(f, w int, v uint64, d []byte) {
				switch {
				case f == 1 && w == wireVarint:
					rejected = int64(v)
				case f == 2 && w == wireBytes:
					msg = string(d)
				}
			})
		}
	})
	return rejected, msg
}

// walk calls fn for every top-level field of a message; it stops quietly on malformed input.
func walk(b []byte, fn func(field, wire int, v uint64, data []byte)) {
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return
		}
		b = b[n:]
		field, wire := int(tag>>3), int(tag&7)
		switch wire {
		case wireVarint:
			v, m := binary.Uvarint(b)
			if m <= 0 {
				return
			}
			b = b[m:]
			fn(field, wire, v, nil)
		case wireFixed64:
			if len(b) < 8 {
				return
			}
			fn(field, wire, binary.LittleEndian.Uint64(b), nil)
			b = b[8:]
		case wireBytes:
			l, m := binary.Uvarint(b)
			if m <= 0 || uint64(len(b)-m) < l {
				return
			}
			fn(field, wire, 0, b[m:m+int(l)])
			b = b[m+int(l):]
		case 5: // fixed32
			if len(b) < 4 {
				return
			}
			b = b[4:]
		default:
			return
		}
	}
}
