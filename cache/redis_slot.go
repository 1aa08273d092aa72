package cache

import (
	"strconv"
	"sync"
)

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// crc16Table is the table of CRC-16/XMODEM (polynomial 0x1021, initial 0),
// the checksum Redis Cluster hashes keys with.
var crc16Table = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// crc16 returns the CRC-16/XMODEM of the bytes of the parts, one after
// the other (so that a key made of a prefix and a name needs no
// concatenation).
func crc16(parts ...string) uint16 {
	var c uint16
	for _, s := range parts {
		for i := 0; i < len(s); i++ {
			c = c<<8 ^ crc16Table[byte(c>>8)^s[i]]
		}
	}
	return c
}

// keySlot returns the Redis Cluster hash slot of key: the CRC16 of its hash
// tag (hashTag) modulo 16384.
func keySlot(key string) int {
	return int(crc16(hashTag(key)) % clusterSlots)
}

// slotTags returns, for each Cluster slot, a short name whose own slot it
// is: the lease of a key whose name has no hash tag carries the tag of its
// value's slot ({name}), so that one script may read the one and write the
// other. The names are the base-36 numbers from 0 up, the first that lands
// on each slot (the largest is "1vkk", about 88 000 tries in all: about
// 2 ms, once per process, when the first Cluster store is made).
var slotTags = sync.OnceValue(func() *[clusterSlots]uint32 {
	var t [clusterSlots]uint32
	var seen [clusterSlots]bool
	var buf [8]byte
	for n, left := uint64(0), clusterSlots; left > 0; n++ {
		s := crc16(string(strconv.AppendUint(buf[:0], n, 36))) % clusterSlots
		if !seen[s] {
			seen[s], t[s] = true, uint32(n)
			left--
		}
	}
	return &t
})

// slotTag returns the hash tag of slotTags for slot.
func slotTag(slot int) string {
	return strconv.FormatUint(uint64(slotTags()[slot]), 36)
}
