package cardio_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/cardio/virtual"
)

// Personalize a blank NTAG 424 DNA, then read it twice: the SUN counter
// rises with every read. A virtual card signs its UID with a test key, which
// the example trusts; without OriginalityKeys only NXP's key is trusted.
func ExamplePersonalize() {
	ctx := context.Background()
	keys, err := cardio.GenerateKeys(rand.Reader)
	if err != nil {
		panic(err)
	}
	card := virtual.NewNTAG424([7]byte{0x04, 0xA2, 0x3B, 0x5A, 0x6C, 0x12, 0x90})
	cred, err := cardio.Personalize(ctx, card, keys, "https://gate.example/t?picc_data={picc}&cmac={mac}",
		&cardio.PersonalizeOptions{OriginalityKeys: virtual.TestOriginalityKeys()})
	if err != nil {
		panic(err)
	}
	fmt.Println("personalized", cred.UID)
	for range 2 {
		c, err := cardio.ReadCredential(ctx, card, keys, &cardio.ReadOptions{ATR: card.ATR()})
		if err != nil {
			panic(err)
		}
		fmt.Println(c.Medium, c.UID, c.Counter, c.Authenticated)
	}
	// Output:
	// personalized 04A23B5A6C1290
	// ntag424dna 04A23B5A6C1290 2 true
	// ntag424dna 04A23B5A6C1290 3 true
}

// Verify a SUN message out of band (`citypass card sun-verify --key`): the
// AN12196 example, all keys zero.
func ExampleVerifySUN() {
	msg, err := cardio.ParseSUN("https://sdm.nfcdeveloper.com/tag?picc_data=EF963FF7828658A599F3041510671E88&cmac=94EED9EE65337086")
	if err != nil {
		panic(err)
	}
	uid, ctr, err := cardio.VerifySUN(msg, cardio.SingleKey{})
	fmt.Printf("%X %d %v\n", uid, ctr, err)
	// Output: 04DE5F1EACC040 61 <nil>
}

// A card personalized under other master keys fails its proof; the UID is
// still known for the INVALID journal entry.
func ExampleProofFailure() {
	ctx := context.Background()
	ours, _ := cardio.GenerateKeys(rand.Reader)
	card, err := virtual.NewWrongKeyNTAG424(ctx, [7]byte{0x04, 1, 2, 3, 4, 5, 6}, "")
	if err != nil {
		panic(err)
	}
	_, err = cardio.ReadCredential(ctx, card, ours, nil)
	uid, failed := cardio.ProofFailure(err)
	fmt.Println(failed, uid, errors.Is(err, cardio.ErrCardRemoved))
	// Output: true 04010203040506 false
}
