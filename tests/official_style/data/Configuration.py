# The samples' configuration module, in the official samples' shape: a class whose
# get_configuration() returns the merchant-config dict with a LogConfiguration object. The
# values come from the environment (the tests point them at the local emulator) instead of
# being written into the file.
import os

from CyberSource.logging.log_configuration import LogConfiguration


class Configuration:
    def __init__(self):
        self.authentication_type = os.environ.get("SAMPLES_AUTHENTICATION_TYPE", "http_signature")
        self.merchantid = os.environ["CYBERSOURCE_MERCHANT_ID"]
        self.run_environment = os.environ["CYBERSOURCE_RUN_ENVIRONMENT"]
        self.merchant_keyid = os.environ["CYBERSOURCE_KEY_ID"]
        self.merchant_secretkey = os.environ["CYBERSOURCE_SECRET_KEY"]
        self.use_metakey = False
        # The official SDK can only reach the emulator's private CA with verification off.
        self.ssl_verify = os.environ.get("SAMPLES_SSL_VERIFY", "true") != "false"
        self.log_directory = os.environ.get("SAMPLES_LOG_DIRECTORY", "")

    def get_configuration(self):
        configuration_dictionary = {
            "authentication_type": self.authentication_type,
            "merchantid": self.merchantid,
            "run_environment": self.run_environment,
            "merchant_keyid": self.merchant_keyid,
            "merchant_secretkey": self.merchant_secretkey,
            "use_metakey": self.use_metakey,
        }
        if not self.ssl_verify:
            configuration_dictionary["ssl_verify"] = False
        log_config = LogConfiguration()
        log_config.set_enable_log(bool(self.log_directory))
        if self.log_directory:
            log_config.set_log_directory(self.log_directory)
            log_config.set_log_file_name("samples")
        configuration_dictionary["log_config"] = log_config
        return configuration_dictionary
