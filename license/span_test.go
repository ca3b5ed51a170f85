package license

import (
	"testing"
	"time"
)

func TestDaysLeft(t *testing.T) {
	const day = 24 * time.Hour
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{7*day - time.Second, "7 days"}, // a key file issued for 7 days, read a moment later
		{30*day - time.Minute, "30 days"},
		{7 * day, "7 days"},
		{4*day + 13*time.Hour, "4 days 13 hours"},
		{4*day + 13*time.Hour + 29*time.Minute, "4 days 13 hours"},
		{day + 30*time.Minute, "1 day 1 hour"},
		{day, "1 day"},
		{day - 20*time.Second, "1 day"},
		{23*time.Hour + 5*time.Minute, "23 hours 5 minutes"},
		{time.Hour, "1 hour"},
		{90 * time.Second, "1 minute 30 seconds"},
		{2 * time.Minute, "2 minutes"},
		{45 * time.Second, "45 seconds"},
		{time.Second, "1 second"},
		{400 * time.Millisecond, "less than a second"},
		{0, "less than a second"},
		{-(3*day + time.Hour), "3 days 1 hour"},
	} {
		if got := DaysLeft(tt.d); got != tt.want {
			t.Errorf("DaysLeft(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestWholeDays(t *testing.T) {
	const day = 24 * time.Hour
	for _, tt := range []struct {
		d    time.Duration
		want int
	}{
		{30*day - time.Second, 30},
		{29*day + 13*time.Hour, 30},
		{29*day + 11*time.Hour, 29},
		{time.Hour, 0},
		{-time.Hour, 0},
		{-day - 13*time.Hour, -2},
	} {
		if got := WholeDays(tt.d); got != tt.want {
			t.Errorf("WholeDays(%s) = %d, want %d", tt.d, got, tt.want)
		}
	}
}
