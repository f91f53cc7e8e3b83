// SPDX-License-Identifier: Apache-2.0
/*
 * The router's optional remote embeddings endpoint (OpenAI /v1/embeddings
 * format), consulted only for prompts the local model is not confident
 * about. When the policy loads, the endpoint embeds every route's examples
 * (on the main thread, blocking, bounded by the timeout) and each route
 * keeps the normalised mean of them; a low-confidence prompt is embedded
 * by the worker asynchronously (the proxy sends the request this module
 * writes) and goes to the route whose mean is nearest by cosine. If the
 * endpoint fails or is late, the local decision stands.
 */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/log.h"
#include "llm/internal.h"
#include "route/route.h"
#include "tls/tls.h"

static void request_head(struct buf *b, const struct policy_embeddings *e, size_t body_len,
			 bool close)
{
	const struct policy_url *u = &e->url;

	buf_printf(b, SIZE_MAX, "POST %s HTTP/1.1\r\nHost: %s:%u\r\n", u->path, u->host, u->port);
	if (e->api_key && e->api_key->value)
		buf_printf(b, SIZE_MAX, "Authorization: Bearer %s\r\n", e->api_key->value);
	buf_printf(b, SIZE_MAX, "Content-Type: application/json\r\nUser-Agent: tollgate\r\n"
		   "Content-Length: %zu\r\n%s\r\n", body_len, close ? "Connection: close\r\n" : "");
}

/* {"model":M,"input":[...]} */
static void request_body(struct buf *b, const char *model, const char *const *texts,
			 const size_t *lens, size_t n)
{
	size_t i;

	buf_printf(b, SIZE_MAX, "{\"model\":");
	llm_json_str(b, model, strlen(model));
	buf_printf(b, SIZE_MAX, ",\"input\":[");
	for (i = 0; i < n; i++) {
		if (i)
			buf_append(b, ",", 1, SIZE_MAX);
		llm_json_str(b, texts[i], lens ? lens[i] : strlen(texts[i]));
	}
	buf_printf(b, SIZE_MAX, "]}");
}

/* Reads the vectors of an embeddings answer: out[i * dim ..] for input i.
 * On the first call *dim is 0 and is set from the answer. */
static int parse_vectors(const char *body, size_t len, struct json_scratch *js,
			 float *out, size_t n, uint32_t *dim)
{
	struct json_doc *doc = malloc(sizeof(*doc));
	struct json_value data, item, emb, idx, x;
	struct json_iter it, ie;
	int ret = -EPROTO;

	if (!doc)
		return -ENOMEM;
	if (json_parse(doc, body, len, js) || json_find(doc, "data", &data) ||
	    data.kind != JSON_K_ARRAY)
		goto out_free;
	json_iter_init(&it, &data);
	while (json_iter_next(&it, NULL, &item)) {
		int64_t i;
		uint32_t k = 0;

		if (item.kind != JSON_K_OBJECT || json_obj_find(&item, "embedding", 9, &emb) ||
		    emb.kind != JSON_K_ARRAY || json_obj_find(&item, "index", 5, &idx) ||
		    json_get_int(&idx, &i) || i < 0 || (size_t)i >= n)
			goto out_free;
		json_iter_init(&ie, &emb);
		while (json_iter_next(&ie, NULL, &x)) {
			double v;

			if (json_get_double(&x, &v) || k >= TG_EMBED_DIM_MAX)
				goto out_free;
			if (*dim && k < *dim)
				out[(size_t)i * *dim + k] = (float)v;
			k++;
		}
		if (!*dim) {
			/* Learned from the first vector: the caller sizes for the max. */
			*dim = k;
			json_iter_init(&ie, &emb);
			k = 0;
			while (json_iter_next(&ie, NULL, &x)) {
				double v = 0;

				json_get_double(&x, &v);
				out[(size_t)i * *dim + k++] = (float)v;
			}
		}
		if (k != *dim)
			goto out_free;
	}
	ret = 0;
out_free:
	free(doc);
	return ret;
}

static void normalise(float *v, uint32_t dim)
{
	double s = 0;
	uint32_t i;

	for (i = 0; i < dim; i++)
		s += (double)v[i] * v[i];
	s = sqrt(s);
	if (s > 0)
		for (i = 0; i < dim; i++)
			v[i] = (float)(v[i] / s);
}

/* ---- a blocking HTTP call, for the policy load only ---------------------------------------- */

static int connect_timeout(const struct policy_url *u, unsigned ms)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	char port[8];
	int fd, err;

	snprintf(port, sizeof(port), "%u", u->port);
	if (getaddrinfo(u->host, port, &hints, &res))
		return -EHOSTUNREACH;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		goto out_free;
	}
	/* SO_SNDTIMEO bounds connect() too on Linux. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, res->ai_addr, res->ai_addrlen)) {
		err = -errno;
		close(fd);
		goto out_free;
	}
	err = fd;
out_free:
	freeaddrinfo(res);
	return err;
}

static int http_post(const struct policy_embeddings *e, const struct buf *req, struct buf *resp)
{
	const struct policy_url *u = &e->url;
	struct tls_ctx *ctx = NULL;
	struct tls_conn *tls = NULL;
	char chunk[16384];
	int fd, err = 0;
	ssize_t n;
	size_t off = 0;

	fd = connect_timeout(u, (unsigned)e->timeout_ms);
	if (fd < 0)
		return fd;
	if (u->tls) {
		struct tls_client_opts o = { 0 };

		ctx = tls_client_ctx_new(&o, NULL, 0);
		tls = ctx ? tls_conn_new_fd(ctx, fd, u->host) : NULL;
		if (!tls || tls_handshake(tls) != TLS_HS_DONE) {
			err = -EPROTO;
			goto out_close;
		}
	}
	while (off < req->len) {
		n = tls ? tls_write(tls, req->p + off, req->len - off) :
			  send(fd, req->p + off, req->len - off, MSG_NOSIGNAL);
		if (n <= 0) {
			err = n < 0 && !tls ? -errno : -EIO;
			goto out_close;
		}
		off += (size_t)n;
	}
	for (;;) {
		n = tls ? tls_read(tls, chunk, sizeof(chunk)) : recv(fd, chunk, sizeof(chunk), 0);
		if (n == 0 || (tls && n == -ECONNRESET))
			break;	/* Connection: close delimits the answer */
		if (n < 0) {
			err = tls ? (int)n : -errno;
			goto out_close;
		}
		err = buf_append(resp, chunk, (size_t)n, TG_EMBED_RESP_MAX);
		if (err)
			goto out_close;
	}
out_close:
	tls_conn_free(tls);
	tls_ctx_free(ctx);
	close(fd);
	return err;
}

/* The body of an answer read whole: after the head, de-chunked if needed. */
static int answer_body(struct buf *resp, const char **body, size_t *len)
{
	struct http1_header hdrs[64];
	struct http1_parser p;
	long r;

	http1_parser_init(&p, 0, hdrs, 64, 65536);
	r = http1_parse(&p, resp->p, resp->len);
	if (r <= 0 || p.msg.status != 200)
		return -EPROTO;
	*body = resp->p + r;
	*len = resp->len - (size_t)r;
	if (p.msg.body == HTTP1_BODY_CHUNKED) {
		struct http1_chunked ch;
		struct http1_span d;
		size_t used, w = 0, at = (size_t)r;
		int k;

		http1_chunked_init(&ch, 1024, NULL, 0, NULL, 0);
		while (at < resp->len) {
			k = http1_chunked_next(&ch, resp->p + at, resp->len - at, &used, &d);
			if (k < 0)
				return -EPROTO;
			if (k == HTTP1_CHUNKED_DATA) {
				memmove(resp->p + r + w, d.p, d.len);
				w += d.len;
			}
			at += used;
			if (k != HTTP1_CHUNKED_DATA)
				break;
		}
		*len = w;
	} else if (p.msg.body == HTTP1_BODY_LENGTH && p.msg.content_length < *len) {
		*len = (size_t)p.msg.content_length;
	}
	return 0;
}

/* ---- at policy load ---------------------------------------------------------------------------- */

int llm_embed_prepare(struct llm_ctx *ctx, char *err, size_t errlen)
{
	const struct policy_router *r = &ctx->p->router;
	const struct policy_embeddings *e = r->embeddings;
	const char **texts = NULL;
	uint32_t *route_of = NULL, i, j, k, n = 0, dim = 0;
	struct json_scratch *js = NULL;
	struct buf body = { 0 }, req = { 0 }, resp = { 0 };
	float *vec = NULL;
	const char *ab;
	size_t alen;
	int ret;

	(void)err;
	(void)errlen;
	if (!e || !ctx->router)
		return 0;
	for (i = 0; i < r->n_routes; i++) {
		uint32_t nd = 0;

		route_domain_examples(r->routes[i].domain, &nd);
		n += r->routes[i].n_examples + nd;
	}
	texts = calloc(n + 1, sizeof(*texts));
	route_of = calloc(n + 1, sizeof(*route_of));
	js = malloc(sizeof(*js));
	if (!texts || !route_of || !js) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (i = 0, k = 0; i < r->n_routes; i++) {
		uint32_t nd = 0;
		const char *const *dex = route_domain_examples(r->routes[i].domain, &nd);

		for (j = 0; j < r->routes[i].n_examples; j++, k++) {
			texts[k] = r->routes[i].examples[j];
			route_of[k] = i;
		}
		for (j = 0; j < nd; j++, k++) {
			texts[k] = dex[j];
			route_of[k] = i;
		}
	}
	request_body(&body, e->model, texts, NULL, n);
	request_head(&req, e, body.len, true);
	buf_append(&req, body.p, body.len, SIZE_MAX);
	ret = http_post(e, &req, &resp);
	if (!ret)
		ret = answer_body(&resp, &ab, &alen);
	if (!ret) {
		vec = calloc((size_t)n * TG_EMBED_DIM_MAX, sizeof(float));
		ret = vec ? parse_vectors(ab, alen, js, vec, n, &dim) : -ENOMEM;
	}
	if (ret || !dim) {
		log_warn("router: embeddings endpoint %s: %s; low-confidence prompts keep the "
			 "local decision", e->url.text, ret ? strerror(-ret) : "no vectors");
		ret = 0;
		goto out_free;
	}
	ctx->centroids = calloc((size_t)r->n_routes * dim, sizeof(float));
	if (!ctx->centroids) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (k = 0; k < n; k++) {
		float *v = &vec[(size_t)k * dim];

		normalise(v, dim);
		for (j = 0; j < dim; j++)
			ctx->centroids[(size_t)route_of[k] * dim + j] += v[j];
	}
	for (i = 0; i < r->n_routes; i++)
		normalise(&ctx->centroids[(size_t)i * dim], dim);
	ctx->embed_dim = dim;
	log_info("router: embeddings endpoint %s: %u route centroids of %u dimensions",
		 e->url.text, r->n_routes, dim);
out_free:
	free(vec);
	free(texts);
	free(route_of);
	free(js);
	buf_free(&body);
	buf_free(&req);
	buf_free(&resp);
	return ret;
}

/* ---- per request ------------------------------------------------------------------------------ */

bool llm_embed_wanted(const struct llm_call *c)
{
	return c->low_confidence && c->ctx->centroids && c->route_text_len;
}

int llm_embed_request(struct llm_call *c, struct buf *req)
{
	const struct policy_embeddings *e = c->ctx->p->router.embeddings;
	const char *t = c->route_text;
	struct buf body = { 0 };

	request_body(&body, e->model, &t, &c->route_text_len, 1);
	request_head(req, e, body.len, false);
	buf_append(req, body.p, body.len, SIZE_MAX);
	buf_free(&body);
	return 0;
}

void llm_embed_choose(struct llm_call *c, const char *body, size_t len)
{
	const struct llm_ctx *ctx = c->ctx;
	const struct policy_router *r = &ctx->p->router;
	uint32_t dim = 0, i, j, best = 0;
	float *v = calloc(TG_EMBED_DIM_MAX, sizeof(float));
	double best_cos = -2;

	if (!v)
		return;
	if (!body || parse_vectors(body, len, c->scratch, v, 1, &dim) || dim != ctx->embed_dim) {
		free(v);
		return;	/* the local decision stands */
	}
	normalise(v, dim);
	for (i = 0; i < r->n_routes; i++) {
		double cos = 0;

		for (j = 0; j < dim; j++)
			cos += (double)v[j] * ctx->centroids[(size_t)i * dim + j];
		if (cos > best_cos) {
			best_cos = cos;
			best = i;
		}
	}
	free(v);
	snprintf(c->route, sizeof(c->route), "%s", r->routes[best].name);
	snprintf(c->model, sizeof(c->model), "%s", r->routes[best].model);
	c->route_guard = r->routes[best].guard;
	c->route_confidence = (float)best_cos;
	c->route_by_embeddings = true;
}
