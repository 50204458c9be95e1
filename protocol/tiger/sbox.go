package tiger

// The four S-boxes, 256 words each, one after the other in sbox. They are not copied from a table: init
// builds them by the procedure of the Tiger paper (five passes of byte swaps
// driven by Tiger itself over the 64-byte string below), which is how the
// reference implementation made its sboxes.c. The tests check them against
// published words and hash vectors.
var sbox [4 * 256]uint64

const sboxSeed = "Tiger - A Fast New Hash Function, by Ross Anderson and Eli Biham"

func init() { genSboxes() }

func genSboxes() {
	var tab [1024][8]byte // the four boxes, one word as its 8 little-endian bytes
	for i := range tab {
		for col := range tab[i] {
			tab[i][col] = byte(i)
		}
	}
	var seed [BlockSize]byte
	copy(seed[:], sboxSeed)
	state := [3]uint64{initA, initB, initC}
	abc := 2
	for pass := 0; pass < 5; pass++ {
		for i := 0; i < 256; i++ {
			for sb := 0; sb < 1024; sb += 256 {
				abc++
				if abc == 3 {
					abc = 0
					loadSboxes(&tab)
					blockGeneric(&state, &seed)
				}
				w := state[abc]
				for col := 0; col < 8; col++ {
					j := sb + int(byte(w>>(8*col)))
					tab[sb+i][col], tab[j][col] = tab[j][col], tab[sb+i][col]
				}
			}
		}
	}
	loadSboxes(&tab)
}

func loadSboxes(tab *[1024][8]byte) {
	for i := range sbox {
		sbox[i] = le64(tab[i][:])
	}
}
