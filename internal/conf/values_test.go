package conf

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	for _, c := range []struct {
		in      string
		seconds bool
		want    time.Duration // -1: invalid
	}{
		{"65", false, 65 * time.Second},
		{"10s", false, 10 * time.Second},
		{"1h30m", false, 90 * time.Minute},
		{"1h 30m", false, 90 * time.Minute},
		{"100ms", false, 100 * time.Millisecond},
		{"1s 500ms", false, 1500 * time.Millisecond},
		{"100ms", true, -1},
		{"1y", false, -1},
		{"1M", false, -1},
		{"1y", true, 365 * 24 * time.Hour},
		{"2w1d", false, 15 * 24 * time.Hour},
		{"30m1h", false, -1},
		{"1s1s", false, -1},
		{"1x", false, -1},
		{"5 1s", false, -1},
		{"1 2", false, 3 * time.Second},
		{" 1h", false, -1},
		{"3000000000", true, 3000000000 * time.Second},
		{"100y", true, 100 * 365 * 24 * time.Hour},
		{"1000y", true, 1<<63 - 1},
		{"1ms 1s", false, -1},
		{"", false, -1},
		{"s", false, -1},
		{"-1", false, -1},
	} {
		got, err := ParseTime(c.in, c.seconds)
		if err != nil {
			got = -1
		}
		if got != c.want {
			t.Errorf("ParseTime(%q, %v) = %v, want %v", c.in, c.seconds, got, c.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "512": 512, "512k": 512 << 10, "10m": 10 << 20, "10M": 10 << 20, "1g": -1,
		"": -1, "-1": -1, "10q": -1, "k": -1, "1.5m": -1, "99999999999999999999": -1,
	} {
		got, err := ParseSize(in)
		if err != nil {
			got = -1
		}
		if got != want {
			t.Errorf("ParseSize(%q) = %d, want %d", in, got, want)
		}
	}
	for in, want := range map[string]int64{"1g": 1 << 30, "1G": 1 << 30, "2m": 2 << 20, "1t": -1} {
		got, err := ParseOffset(in)
		if err != nil {
			got = -1
		}
		if got != want {
			t.Errorf("ParseOffset(%q) = %d, want %d", in, got, want)
		}
	}
}
