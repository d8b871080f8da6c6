"""OTLP receivers: gRPC (`grpc_receiver`) and HTTP (`http_receiver`) over one `TraceIntake`."""
