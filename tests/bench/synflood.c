/*
 * synflood: a paced TCP SYN generator over AF_PACKET, for the SYN-flood
 * integration test and `make bench-synflood`.
 *
 *   synflood -i DEV -m DSTMAC -d DSTIP [-p DPORT] -t SECONDS
 *            -s SRC:RATE [-s SRC:RATE ...] [-b BATCH]
 *
 * Each -s is one stream: SYNs (no ACK) from SRC at RATE packets per second
 * (0: as fast as the sender goes), each with a new source port, so every
 * packet is a new connection attempt. A stream with a rate sends exactly
 * round(RATE x SECONDS) packets, paced on CLOCK_MONOTONIC; the streams are
 * interleaved in one loop. The frames are built here (Ethernet, IPv4 with
 * a correct checksum, TCP with a correct checksum) and written with
 * sendmmsg on a packet socket with PACKET_QDISC_BYPASS, so the sender's
 * own stack is not in the way.
 *
 * Prints one JSON object: the elapsed time (first to last packet), and per
 * stream the packets sent and send errors (ENOBUFS and the like: not sent,
 * not counted as sent).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* sendmmsg */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_STREAMS 8
#define MAX_BATCH 64
#define FRAME_LEN (14 + 20 + 20)

struct stream {
	struct in_addr src;
	double rate;
	uint64_t target;	/* packets to send; 0 with rate 0: unbounded */
	uint64_t sent;
	uint64_t errors;
	uint16_t sport;
	uint32_t seq;
};

static uint16_t csum_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static uint32_t csum_add(uint32_t s, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (; n > 1; n -= 2, b += 2)
		s += (uint32_t)(b[0] << 8 | b[1]);
	if (n)
		s += (uint32_t)(b[0] << 8);
	return s;
}

static void build(uint8_t *f, const uint8_t dmac[6], const uint8_t smac[6],
		  struct in_addr src, struct in_addr dst, uint16_t sport,
		  uint16_t dport, uint32_t seq)
{
	struct iphdr *ip = (struct iphdr *)(f + 14);
	struct tcphdr *tcp = (struct tcphdr *)(f + 34);
	uint32_t s;
	struct {
		uint32_t src, dst;
		uint8_t zero, proto;
		uint16_t len;
	} __attribute__((packed)) ph;

	memcpy(f, dmac, 6);
	memcpy(f + 6, smac, 6);
	f[12] = 0x08;
	f[13] = 0x00;
	memset(ip, 0, 40);
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons(40);
	ip->id = htons((uint16_t)seq);
	ip->ttl = 64;
	ip->protocol = IPPROTO_TCP;
	ip->saddr = src.s_addr;
	ip->daddr = dst.s_addr;
	ip->check = htons(csum_fold(csum_add(0, ip, 20)));
	tcp->source = htons(sport);
	tcp->dest = htons(dport);
	tcp->seq = htonl(seq);
	tcp->doff = 5;
	tcp->syn = 1;
	tcp->window = htons(64240);
	ph.src = src.s_addr;
	ph.dst = dst.s_addr;
	ph.zero = 0;
	ph.proto = IPPROTO_TCP;
	ph.len = htons(20);
	s = csum_add(0, &ph, sizeof(ph));
	s = csum_add(s, tcp, 20);
	tcp->check = htons(csum_fold(s));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_mac(const char *s, uint8_t m[6])
{
	unsigned int v[6];
	int i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4],
		   &v[5]) != 6)
		return -1;
	for (i = 0; i < 6; i++)
		m[i] = (uint8_t)v[i];
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: synflood -i DEV -m DSTMAC -d DSTIP [-p DPORT] -t SECONDS "
		"-s SRC:RATE [-s SRC:RATE ...] [-b BATCH]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static uint8_t frames[MAX_BATCH][FRAME_LEN];
	struct mmsghdr msgs[MAX_BATCH];
	struct iovec iov[MAX_BATCH];
	struct stream st[MAX_STREAMS];
	int owner[MAX_BATCH];
	const char *dev = NULL;
	uint8_t dmac[6], smac[6];
	struct in_addr dst = { 0 };
	struct sockaddr_ll sll;
	struct ifreq ifr;
	int nst = 0, batch = 32, opt, fd, one = 1, i;
	uint16_t dport = 9;
	double secs = 0, t0, t_last, t;
	int have_mac = 0;

	memset(st, 0, sizeof(st));
	while ((opt = getopt(argc, argv, "i:m:d:p:t:s:b:")) != -1) {
		switch (opt) {
		case 'i': dev = optarg; break;
		case 'm':
			if (parse_mac(optarg, dmac))
				usage();
			have_mac = 1;
			break;
		case 'd':
			if (inet_pton(AF_INET, optarg, &dst) != 1)
				usage();
			break;
		case 'p': dport = (uint16_t)atoi(optarg); break;
		case 't': secs = atof(optarg); break;
		case 'b': batch = atoi(optarg); break;
		case 's': {
			char *c = strchr(optarg, ':');

			if (!c || nst == MAX_STREAMS)
				usage();
			*c = 0;
			if (inet_pton(AF_INET, optarg, &st[nst].src) != 1)
				usage();
			st[nst].rate = atof(c + 1);
			nst++;
			break;
		}
		default: usage();
		}
	}
	if (!dev || !have_mac || !dst.s_addr || secs <= 0 || nst == 0 ||
	    batch < 1 || batch > MAX_BATCH)
		usage();

	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		perror("synflood: socket(AF_PACKET)");
		return 1;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		perror("synflood: SIOCGIFHWADDR");
		return 1;
	}
	memcpy(smac, ifr.ifr_hwaddr.sa_data, 6);
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_IP);
	sll.sll_ifindex = (int)if_nametoindex(dev);
	sll.sll_halen = 6;
	memcpy(sll.sll_addr, dmac, 6);
	if (!sll.sll_ifindex) {
		fprintf(stderr, "synflood: unknown interface %s\n", dev);
		return 1;
	}
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		perror("synflood: bind");
		return 1;
	}

	srand((unsigned int)getpid());
	for (i = 0; i < nst; i++) {
		st[i].target = st[i].rate > 0 ? (uint64_t)(st[i].rate * secs + 0.5) : 0;
		st[i].sport = (uint16_t)(10000 + i * 7919);
		st[i].seq = (uint32_t)rand();
	}

	t0 = now_s();
	t_last = t0;
	for (;;) {
		int n = 0, done = 1, r;

		t = now_s();
		/* Fill a batch: each stream up to where its pace says it
		 * should be by now (unpaced streams: until the time is up). */
		for (i = 0; i < nst && n < batch; i++) {
			struct stream *s = &st[i];
			uint64_t due;

			if (s->rate > 0) {
				if (s->sent >= s->target)
					continue;
				done = 0;
				due = (uint64_t)((t - t0) * s->rate) + 1;
				if (due > s->target)
					due = s->target;
			} else {
				if (t - t0 >= secs)
					continue;
				done = 0;
				due = UINT64_MAX;
			}
			for (uint64_t k = s->sent; k < due && n < batch; k++) {
				/* Skip the reserved and low ports. */
				if (s->sport < 1024)
					s->sport = 1024;
				build(frames[n], dmac, smac, s->src, dst,
				      s->sport++, dport, s->seq);
				s->seq += 7919;
				owner[n] = i;
				n++;
			}
		}
		if (done)
			break;
		if (n == 0) {
			/* Ahead of the pace: sleep a little. */
			struct timespec ts = { 0, 50000 };

			nanosleep(&ts, NULL);
			continue;
		}
		for (i = 0; i < n; i++) {
			iov[i].iov_base = frames[i];
			iov[i].iov_len = FRAME_LEN;
			memset(&msgs[i], 0, sizeof(msgs[i]));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &sll;
			msgs[i].msg_hdr.msg_namelen = sizeof(sll);
		}
		r = sendmmsg(fd, msgs, (unsigned int)n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			r = 0;
		}
		for (i = 0; i < n; i++) {
			if (i < r)
				st[owner[i]].sent++;
			else
				st[owner[i]].errors++;
		}
		/* Failed packets of a paced stream still count against its
		 * target (they were offered), so the loop ends on time. */
		for (i = r; i < n; i++)
			if (st[owner[i]].rate > 0)
				st[owner[i]].target--;
		t_last = now_s();
	}

	printf("{\"elapsed_s\": %.6f, \"streams\": [", t_last - t0);
	for (i = 0; i < nst; i++)
		printf("%s{\"src\": \"%s\", \"rate\": %.1f, \"sent\": %llu, \"errors\": %llu}",
		       i ? ", " : "", inet_ntoa(st[i].src), st[i].rate,
		       (unsigned long long)st[i].sent,
		       (unsigned long long)st[i].errors);
	printf("]}\n");
	close(fd);
	return 0;
}
