package attest

import (
	"fmt"
	"strings"

	"github.com/sigstore/cosign/v2/pkg/cosign/pkcs11key"
)

// PKCS11Scheme begins a key's PKCS#11 URI (RFC 7512).
const PKCS11Scheme = "pkcs11:"

// LoadPKCS11 opens a private key kept in a hardware security module by its
// PKCS#11 URI, e.g.
//
//	pkcs11:token=vessel;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234
//
// through cosign's PKCS#11 client (crypto11). That client needs cgo, so it
// is in vessel built with the pkcs11key tag (`make build-full`); the
// default build refuses with a message saying so. close releases
// the module's session.
func LoadPKCS11(uri string) (s *KeySigner, close func(), err error) {
	if !strings.HasPrefix(uri, PKCS11Scheme) {
		return nil, nil, fmt.Errorf("%w: %q is not a PKCS#11 URI", ErrKey, uri)
	}
	if !pkcs11Built {
		return nil, nil, fmt.Errorf("%w: this vessel was built without PKCS#11 support, which needs cgo: build it with `make build-full` (go build -tags pkcs11key,kms)", ErrKey)
	}
	conf := pkcs11key.NewPkcs11UriConfig()
	if err := conf.Parse(uri); err != nil {
		return nil, nil, fmt.Errorf("%w: PKCS#11 URI: %v", ErrKey, err)
	}
	key, err := pkcs11key.GetKeyWithURIConfig(conf, false)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: PKCS#11 key: %v", ErrKey, err)
	}
	sv, err := key.SignerVerifier()
	if err != nil {
		key.Close()
		return nil, nil, fmt.Errorf("%w: PKCS#11 key: %v", ErrKey, err)
	}
	pub, err := sv.PublicKey()
	if err == nil {
		err = checkKeyType(pub)
	}
	if err != nil {
		key.Close()
		return nil, nil, fmt.Errorf("%w: PKCS#11 key: %v", ErrKey, err)
	}
	return &KeySigner{sv}, key.Close, nil
}
