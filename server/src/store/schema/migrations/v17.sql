    DROP INDEX send_log_client;
