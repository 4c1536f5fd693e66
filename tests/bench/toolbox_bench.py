"""Toolbox benchmark against a running `sandbar serve` (DAYTONA_API_URL, DAYTONA_API_KEY):

  * exec round trip of `true` over HTTP (POST /process/execute), p50/p95/p99;
  * session exec round trip (POST /process/session/{id}/exec, sync), p50/p95/p99;
  * upload and download of one large file (default 1 GiB) and of many small files (default
    10,000 x 1 KiB) through the bulk endpoints, beside a plain `cp` of the same data on the same
    disk in the same run.

Prints the numbers and writes JSON (--json). Talks only to the given loopback URL; loops are
bounded by the iteration counts.
"""
import argparse
import http.client
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.parse

BOUNDARY = "sandbar-bench-boundary"


def percentile(samples, q):
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 1))))
    return ordered[rank - 1]


def summary(name, samples):
    return {"name": name, "samples": len(samples), "p50_ms": percentile(samples, 0.5),
            "p95_ms": percentile(samples, 0.95), "p99_ms": percentile(samples, 0.99)}


class Api:
    def __init__(self, url, key):
        parsed = urllib.parse.urlparse(url)
        if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
            sys.exit(f"refusing to benchmark a non-loopback URL: {url}")
        self.host, self.port, self.base = parsed.hostname, parsed.port, parsed.path.rstrip("/")
        self.key = key
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=600)

    def call(self, method, path, body=None, headers=None, raw=False, expect=(200, 201, 202, 204)):
        all_headers = {"Authorization": f"Bearer {self.key}"}
        if body is not None and not isinstance(body, (bytes, bytearray)) and not hasattr(body, "__iter__"):
            body = json.dumps(body)
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        encode_chunked = body is not None and not isinstance(body, (str, bytes, bytearray))
        self.connection.request(method, path, body=body, headers=all_headers, encode_chunked=encode_chunked)
        response = self.connection.getresponse()
        if raw:
            return response
        data = response.read()
        if response.status not in expect:
            raise RuntimeError(f"{method} {path} -> {response.status}: {data[:300]!r}")
        return json.loads(data) if data else None


def timed(samples, fn):
    started = time.perf_counter()
    fn()
    samples.append((time.perf_counter() - started) * 1000)


def multipart_stream(files):
    """A chunked multipart body for bulk-upload: all `.path` parts, then the file parts."""
    for index, (destination, _) in enumerate(files):
        yield (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files[{index}].path\"\r\n\r\n"
               f"{destination}\r\n").encode()
    for index, (destination, source) in enumerate(files):
        yield (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files[{index}].file\"; "
               f"filename=\"{destination}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
        if isinstance(source, bytes):
            yield source
        else:
            with open(source, "rb") as handle:
                while True:
                    chunk = handle.read(1 << 20)
                    if not chunk:
                        break
                    yield chunk
        yield b"\r\n"
    yield f"--{BOUNDARY}--\r\n".encode()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--small-files", type=int, default=10000)
    parser.add_argument("--json")
    args = parser.parse_args()
    api = Api(os.environ["DAYTONA_API_URL"], os.environ["DAYTONA_API_KEY"])
    sandbox = api.call("POST", f"{api.base}/sandbox", {"labels": {"bench": "toolbox"}, "memory": 4, "disk": 8})
    toolbox = urllib.parse.urlparse(sandbox["toolboxProxyUrl"]).path + "/" + sandbox["id"]
    results, throughput = [], {}
    scratch = tempfile.mkdtemp(prefix="sandbar-toolbox-bench-", dir="/var/tmp")
    try:
        exec_samples = []
        for i in range(args.iterations + 20):
            target = exec_samples if i >= 20 else []
            timed(target, lambda: api.call("POST", f"{toolbox}/process/execute", {"command": "true"}))
        results.append(summary("toolbox exec true (HTTP round trip)", exec_samples))

        api.call("POST", f"{toolbox}/process/session", {"sessionId": "bench"})
        session_samples = []
        for i in range(args.iterations + 20):
            target = session_samples if i >= 20 else []
            timed(target, lambda: api.call("POST", f"{toolbox}/process/session/bench/exec", {"command": "true"}))
        results.append(summary("session exec true (sync)", session_samples))

        # One big file.
        big = os.path.join(scratch, "big.bin")
        with open(big, "wb") as handle:
            block = os.urandom(1 << 20)
            for _ in range(args.big_mib):
                handle.write(block)
        size = args.big_mib << 20
        started = time.perf_counter()
        shutil.copyfile(big, big + ".copy")
        cp_seconds = time.perf_counter() - started
        os.remove(big + ".copy")
        started = time.perf_counter()
        api.call("POST", f"{toolbox}/files/bulk-upload", multipart_stream([("/home/daytona/big.bin", big)]),
                 headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
        upload_seconds = time.perf_counter() - started
        started = time.perf_counter()
        response = api.call("POST", f"{toolbox}/files/bulk-download", {"paths": ["/home/daytona/big.bin"]}, raw=True)
        received = 0
        while True:
            chunk = response.read(1 << 20)
            if not chunk:
                break
            received += len(chunk)
        download_seconds = time.perf_counter() - started
        if received < size:
            raise RuntimeError(f"download returned {received} bytes, expected at least {size}")
        mib = size / (1 << 20)
        throughput["big_file"] = {
            "mib": mib,
            "cp_mib_s": mib / cp_seconds,
            "upload_mib_s": mib / upload_seconds,
            "download_mib_s": mib / download_seconds,
        }
        api.call("POST", f"{toolbox}/process/execute", {"command": "rm -f /home/daytona/big.bin"})

        # Many small files.
        small_dir = os.path.join(scratch, "small")
        os.makedirs(small_dir)
        payload = os.urandom(1024)
        for index in range(args.small_files):
            with open(os.path.join(small_dir, f"f{index}"), "wb") as handle:
                handle.write(payload)
        started = time.perf_counter()
        shutil.copytree(small_dir, small_dir + ".copy")
        cp_small = time.perf_counter() - started
        files = [(f"/home/daytona/small/f{index}", payload) for index in range(args.small_files)]
        started = time.perf_counter()
        api.call("POST", f"{toolbox}/files/bulk-upload", multipart_stream(files),
                 headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
        upload_small = time.perf_counter() - started
        started = time.perf_counter()
        response = api.call("POST", f"{toolbox}/files/bulk-download", {"paths": [f for f, _ in files]}, raw=True)
        while response.read(1 << 20):
            pass
        download_small = time.perf_counter() - started
        throughput["small_files"] = {
            "files": args.small_files,
            "cp_files_s": args.small_files / cp_small,
            "upload_files_s": args.small_files / upload_small,
            "download_files_s": args.small_files / download_small,
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        api.call("DELETE", f"{api.base}/sandbox/{sandbox['id']}")

    print(f"{'benchmark (ms)':<44} {'n':>6} {'p50':>9} {'p95':>9} {'p99':>9}")
    for row in results:
        print(f"{row['name']:<44} {row['samples']:>6} {row['p50_ms']:>9.2f} {row['p95_ms']:>9.2f} {row['p99_ms']:>9.2f}")
    big_row = throughput["big_file"]
    print(f"{big_row['mib']:.0f} MiB file: cp {big_row['cp_mib_s']:.0f} MiB/s, upload {big_row['upload_mib_s']:.0f} MiB/s "
          f"({big_row['upload_mib_s'] / big_row['cp_mib_s']:.2f}x cp), download {big_row['download_mib_s']:.0f} MiB/s "
          f"({big_row['download_mib_s'] / big_row['cp_mib_s']:.2f}x cp)")
    small_row = throughput["small_files"]
    print(f"{small_row['files']} x 1 KiB files: cp {small_row['cp_files_s']:.0f} files/s, upload {small_row['upload_files_s']:.0f} files/s, "
          f"download {small_row['download_files_s']:.0f} files/s")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"results": results, "throughput": throughput}, out, indent=2)


if __name__ == "__main__":
    main()
