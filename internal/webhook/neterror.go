package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// plainNetError drops net/url's `Post "URL":` prefix (the URL is printed
// next to the error already) and says timeouts and cancellations plainly.
func plainNetError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil && oe.Addr != nil {
		msg := oe.Err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return fmt.Errorf("%s %s: %s", oe.Op, oe.Addr, msg)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("no answer in time")
	}
	if errors.Is(err, context.Canceled) {
		return errors.New("stopped while waiting for the answer")
	}
	return err
}
