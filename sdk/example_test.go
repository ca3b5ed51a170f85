package sdk_test

import (
	"context"
	"log"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/sdk"
)

// A product asks on its hot path, in async mode.
func Example() {
	client, err := sdk.New(sdk.Config{
		Servers:       []string{"https://licensor-a.example:8443", "https://licensor-b.example:8443"},
		CAFile:        "/etc/product/licensor/ca.crt",
		CertFile:      "/etc/product/licensor/app.crt",
		KeyFile:       "/etc/product/licensor/app.key",
		VendorKeyFile: "/opt/product/vendor.pub",
		Product:       "ocr",
		InstanceID:    "ocr-host-1",
		Async:         true,
	})
	if err != nil {
		log.Fatal(err) // a *codes.Error: bad configuration, unreadable certificate, …
	}
	defer client.Close()

	for range 3 { // each unit of work
		if err := client.Authorize(context.Background()); err != nil {
			e := err.(*codes.Error)
			log.Fatalf("%v; fix: %s", e, e.FixText())
		}
		// … the work …
	}
}
