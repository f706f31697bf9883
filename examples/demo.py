"""A small program to profile: builds some data, keeps some of it, and frees the rest."""


def make_records(n):
    return [{"id": i, "name": f"record-{i}", "payload": bytes(100)} for i in range(n)]


def big_buffer():
    return bytearray(10 * 1024 * 1024)


def main():
    records = make_records(10_000)
    buffer = big_buffer()
    del buffer
    total = sum(len(r["payload"]) for r in records)
    print(f"built {len(records)} records holding {total} payload bytes")


if __name__ == "__main__":
    main()
