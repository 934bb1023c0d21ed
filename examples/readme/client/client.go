// Package client is the README's paced client of a rate-limited API.
package client

import (
	"errors"
	"log"
	"net/http"
	"time"
)

// README: client
import "github.com/tollgate-go/tollgate/pacer"

// README: end

// Get is the README's client, sending one request.
func Get() (*http.Response, error) {
	// README: client
	t, err := pacer.New(nil, pacer.WithMaxWait(30*time.Second)) // over http.DefaultTransport, or any RoundTripper
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: t} // share it: every goroutine's requests count together

	res, err := client.Get("https://api.example.com/items") // waits while the quota is out
	var wait *pacer.WaitError
	if errors.As(err, &wait) { // out for longer than the maximum wait: not sent
		log.Printf("%s: policy %q exhausted for %v", wait.Host, wait.Policy, wait.Wait)
	}
	// README: end
	return res, err
}
