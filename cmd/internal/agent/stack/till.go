package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/voucherpos/voucherpos/terminal"
)

// APIError is an error answer of the agent's API.
type APIError struct {
	Status    int
	Code      string `json:"code"`
	Message   string `json:"message"`
	MessageEN string `json:"message_en"`
}

func (e *APIError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.MessageEN)
}

// Call sends a request to the terminal's API as the till does and decodes
// the answer into out (if not nil).
func (t *Terminal) Call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.Agent.URL()+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error APIError `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		e.Error.Status = resp.StatusCode
		return &e.Error
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Open opens a checkout for items through the API.
func (t *Terminal) Open(ctx context.Context, items ...terminal.Item) (terminal.Checkout, error) {
	var co terminal.Checkout
	if items == nil {
		items = []terminal.Item{}
	}
	err := t.Call(ctx, "POST", "/api/v1/checkouts", map[string]any{"items": items}, &co)
	return co, err
}

// Complete completes checkout id through the API.
func (t *Terminal) Complete(ctx context.Context, id string) (terminal.Checkout, error) {
	var co terminal.Checkout
	err := t.Call(ctx, "POST", "/api/v1/checkouts/"+id+"/complete", nil, &co)
	return co, err
}

// Cancel cancels checkout id through the API.
func (t *Terminal) Cancel(ctx context.Context, id string) error {
	return t.Call(ctx, "POST", "/api/v1/checkouts/"+id+"/cancel", nil, nil)
}
