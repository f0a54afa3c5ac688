package exectrace

import (
	"reflect"
	"testing"

	"golang.org/x/exp/trace"
)

// TestResetClearsEveryField fills every field of an Event and checks that reset leaves only the
// new time, thread and goroutine: a field added to Event and forgotten in reset would leak one
// event's data into the next.
func TestResetClearsEveryField(t *testing.T) {
	var ev Event
	v := reflect.ValueOf(&ev).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("x")
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			f.SetInt(7)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			f.SetUint(7)
		default:
			t.Fatalf("field %s of kind %s: teach this test and reset about it", v.Type().Field(i).Name, f.Kind())
		}
	}
	ev.reset(42, 3, 9)
	want := Event{Time: 42, Thread: trace.ThreadID(3), Goroutine: trace.GoID(9)}
	if !reflect.DeepEqual(ev, want) {
		t.Errorf("after reset: %+v, want %+v", ev, want)
	}
}
