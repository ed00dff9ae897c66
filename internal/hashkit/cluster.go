package hashkit

// ClusterSlots is the number of hash slots of a Redis Cluster.
const ClusterSlots = 16384

// clusterTag is the hash tag Redis Cluster always applies.
var clusterTag = []byte("{}")

// ClusterSlot returns the Redis Cluster hash slot of key: the CRC-16/XMODEM
// of its hash tag (the bytes between the first '{' and the first '}' after
// it, when there are any) or else of the whole key, modulo 16384. It is
// what CLUSTER KEYSLOT answers. Unlike twemproxy's "crc16" it keeps a
// 16-bit register.
func ClusterSlot(key []byte) uint16 {
	var crc uint16
	for _, b := range TagKey(key, clusterTag) {
		crc = crc<<8 ^ uint16(crc16Table[byte(crc>>8)^b])
	}
	return crc & (ClusterSlots - 1)
}
