import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * Writes records with the Java client, as an upstream team would: one batch per compression
 * type named on the command line, to a topic of that type's name under a prefix.
 * Usage: java -cp '<kafka libs>/*' CompressedProducer.java <brokers> <topic-prefix> <count> <type>...
 */
public class CompressedProducer {
  public static void main(String[] args) throws Exception {
    int count = Integer.parseInt(args[2]);
    for (int t = 3; t < args.length; t++) {
      Properties props = new Properties();
      props.put("bootstrap.servers", args[0]);
      props.put("compression.type", args[t]);
      props.put("linger.ms", "50");
      props.put("key.serializer", "org.apache.kafka.common.serialization.StringSerializer");
      props.put("value.serializer", "org.apache.kafka.common.serialization.StringSerializer");
      try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
        for (int i = 0; i < count; i++) {
          String value = "{\"n\":" + i + ",\"text\":\"" + "compressible ".repeat(20) + "\"}";
          producer.send(new ProducerRecord<>(args[1] + "-" + args[t], "k" + i, value));
        }
        producer.flush();
      }
    }
  }
}
