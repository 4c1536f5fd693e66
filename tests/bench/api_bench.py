"""Control-plane benchmark: create -> started -> delete through Sandbar's API.

Three measurements, all against one running `sandbar serve` (DAYTONA_API_URL, DAYTONA_API_KEY):
  * raw API, one client: POST /sandbox (which returns the sandbox already `started`), then
    DELETE /sandbox/{id}; create and delete are timed separately and together;
  * raw API, 20 concurrent clients doing the same, each on its own keep-alive connection;
  * the official Python SDK: Daytona().create() then sandbox.delete().
Prints p50/p95/p99 per measurement and writes JSON (--json). Loops are bounded by --iterations
and every request has a timeout; it talks only to the given loopback URL.
"""
import argparse
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse


def percentile(samples, q):
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 1))))
    return ordered[rank - 1]


def summary(name, samples):
    return {
        "name": name,
        "samples": len(samples),
        "p50_ms": percentile(samples, 0.50),
        "p95_ms": percentile(samples, 0.95),
        "p99_ms": percentile(samples, 0.99),
    }


class Client:
    """One keep-alive HTTP connection to the API."""

    def __init__(self, url, key):
        parsed = urllib.parse.urlparse(url)
        if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
            sys.exit(f"refusing to benchmark a non-loopback URL: {url}")
        self.base = parsed.path.rstrip("/")
        self.connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def call(self, method, path, body=None):
        payload = None if body is None else json.dumps(body)
        self.connection.request(method, self.base + path, body=payload, headers=self.headers)
        response = self.connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path} -> {response.status}: {data[:300]!r}")
        return json.loads(data)

    def cycle(self, tag):
        started = time.perf_counter()
        sandbox = self.call("POST", "/sandbox", {"env": {}, "labels": {"bench": tag}, "volumes": []})
        created = time.perf_counter()
        if sandbox["state"] != "started":
            raise RuntimeError(f"create returned state {sandbox['state']}")
        self.call("DELETE", f"/sandbox/{sandbox['id']}")
        done = time.perf_counter()
        return (created - started) * 1000, (done - created) * 1000, (done - started) * 1000


def raw(url, key, iterations, warmup, clients):
    creates, deletes, totals, errors = [], [], [], []
    lock = threading.Lock()

    def worker(index):
        client = Client(url, key)
        for i in range(warmup + iterations):
            try:
                result = client.cycle(f"raw-{clients}-{index}")
            except Exception as error:  # recorded, the run goes on
                with lock:
                    errors.append(str(error))
                continue
            if i >= warmup:
                with lock:
                    creates.append(result[0])
                    deletes.append(result[1])
                    totals.append(result[2])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    begin = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - begin
    label = "1 client" if clients == 1 else f"{clients} concurrent clients"
    results = [
        summary(f"API create ({label})", creates),
        summary(f"API delete ({label})", deletes),
        summary(f"API create+delete ({label})", totals),
    ]
    throughput = len(totals) / wall if wall > 0 else 0.0
    return results, errors, throughput


def sdk(url, key, iterations, warmup):
    from daytona import Daytona, DaytonaConfig

    daytona = Daytona(DaytonaConfig(api_key=key, api_url=url))
    creates, totals = [], []
    for i in range(warmup + iterations):
        started = time.perf_counter()
        sandbox = daytona.create()
        created = time.perf_counter()
        sandbox.delete()
        done = time.perf_counter()
        if i >= warmup:
            creates.append((created - started) * 1000)
            totals.append((done - started) * 1000)
    return [summary("SDK create (Python)", creates), summary("SDK create+delete (Python)", totals)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--concurrent-iterations", type=int, default=20, help="per client")
    parser.add_argument("--sdk-iterations", type=int, default=50)
    parser.add_argument("--json")
    args = parser.parse_args()
    url, key = os.environ["DAYTONA_API_URL"], os.environ["DAYTONA_API_KEY"]

    rows, errors = [], []
    single, single_errors, _ = raw(url, key, args.iterations, args.warmup, 1)
    rows += single
    errors += single_errors
    many, many_errors, throughput = raw(url, key, args.concurrent_iterations, 2, args.concurrent)
    rows += many
    errors += many_errors
    try:
        rows += sdk(url, key, args.sdk_iterations, 5)
    except ImportError:
        print("SDK benchmark skipped: run this with a Python that has the daytona package", file=sys.stderr)

    print(f"{'benchmark (ms)':<44} {'n':>6} {'p50':>9} {'p95':>9} {'p99':>9}")
    for row in rows:
        print(f"{row['name']:<44} {row['samples']:>6} {row['p50_ms']:>9.2f} {row['p95_ms']:>9.2f} {row['p99_ms']:>9.2f}")
    print(f"throughput with {args.concurrent} clients: {throughput:.0f} create+delete cycles/s")
    if errors:
        print(f"{len(errors)} request(s) failed; first: {errors[0]}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"results": rows, "concurrent_throughput_per_s": throughput, "errors": errors}, out, indent=2)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
