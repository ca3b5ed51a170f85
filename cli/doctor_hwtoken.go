package cli

import (
	"flag"
	"time"

	"github.com/licensor/licensor/doctor"
	"github.com/licensor/licensor/token"
)

// hwTokenFlags are the doctor's hardware token flags: with --token-module
// it runs the checks token-module, token-present and token-key.
type hwTokenFlags struct {
	module, pinFile string
	timeout         time.Duration
}

func (f *hwTokenFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.module, "token-module", "", "a PKCS#11 module (.so) whose tokens to check: runs token-module, token-present, token-key")
	fs.StringVar(&f.pinFile, "pin-file", "", "a file holding the token's user PIN, for token-key to sign (else $"+token.PINEnv+")")
	fs.DurationVar(&f.timeout, "token-timeout", token.DefaultTimeout, "how long one call into the token module may take")
}

// apply passes the flags to the doctor; usage mistakes are errors.
func (f *hwTokenFlags) apply(o *doctor.Options) error {
	if f.module == "" {
		if f.pinFile != "" {
			return usageErrorf("doctor: --pin-file is for the token checks: give --token-module too")
		}
		return nil
	}
	if f.timeout <= 0 {
		return usageErrorf("doctor: --token-timeout %s: want a positive duration such as 5s", f.timeout)
	}
	o.TokenModule, o.TokenPINFile, o.TokenTimeout = f.module, f.pinFile, f.timeout
	return nil
}
