from tests.integration.test_insights import *  # noqa
def test_probe(aws, known_mix):
    for r in deliveries(aws):
        print(r["deliveryKey"], r["status"], r.get("attempts"), r.get("queueMs"), r.get("outcomes"))
