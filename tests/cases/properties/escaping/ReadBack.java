import java.io.File;
import java.io.FileInputStream;
import java.io.InputStream;
import java.io.StreamTokenizer;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.security.URIParameter;
import java.util.Base64;
import java.util.Map;
import java.util.Properties;
import javax.security.auth.login.AppConfigurationEntry;
import javax.security.auth.login.Configuration;

/**
 * Reads rendered files back the way Kafka and ZooKeeper do. Prints one line per value:
 * base64(name) TAB base64(value), names being a property key, "key#option" for a JAAS option inside a
 * property (parsed as Kafka's JaasConfig parses sasl.jaas.config), or "section#option" in a JAAS file.
 *   java ReadBack.java properties FILE
 *   java ReadBack.java jaas FILE SECTION...
 */
public class ReadBack {
    public static void main(String[] args) throws Exception {
        if (args[0].equals("properties")) {
            Properties properties = new Properties();
            try (InputStream in = new FileInputStream(args[1])) {
                properties.load(in);
            }
            for (String key : properties.stringPropertyNames()) {
                print(key, properties.getProperty(key));
                if (key.endsWith("sasl.jaas.config")) {
                    kafkaJaasOptions(key, properties.getProperty(key));
                }
            }
        } else {
            Configuration jaas = Configuration.getInstance("JavaLoginConfig", new URIParameter(new File(args[1]).toURI()));
            for (int i = 2; i < args.length; i++) {
                for (AppConfigurationEntry entry : jaas.getAppConfigurationEntry(args[i])) {
                    for (Map.Entry<String, ?> option : entry.getOptions().entrySet()) {
                        print(args[i] + "#" + option.getKey(), String.valueOf(option.getValue()));
                    }
                }
            }
        }
    }

    /** As org.apache.kafka.common.security.JaasConfig tokenizes a sasl.jaas.config value. */
    static void kafkaJaasOptions(String key, String value) throws Exception {
        StreamTokenizer tokenizer = new StreamTokenizer(new StringReader(value));
        tokenizer.slashSlashComments(true);
        tokenizer.slashStarComments(true);
        tokenizer.wordChars('-', '-');
        tokenizer.wordChars('_', '_');
        tokenizer.wordChars('$', '$');
        while (tokenizer.nextToken() != StreamTokenizer.TT_EOF) {
            tokenizer.nextToken(); // control flag
            while (tokenizer.nextToken() != StreamTokenizer.TT_EOF && tokenizer.ttype != ';') {
                String option = tokenizer.sval;
                if (tokenizer.nextToken() != '=' || tokenizer.nextToken() == StreamTokenizer.TT_EOF || tokenizer.sval == null) {
                    throw new IllegalArgumentException("no value for " + option);
                }
                print(key + "#" + option, tokenizer.sval);
            }
        }
    }

    static void print(String name, String value) {
        Base64.Encoder base64 = Base64.getEncoder();
        System.out.println(base64.encodeToString(name.getBytes(StandardCharsets.UTF_8)) + "\t"
                + base64.encodeToString(value.getBytes(StandardCharsets.UTF_8)));
    }
}
