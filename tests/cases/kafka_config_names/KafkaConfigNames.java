public class KafkaConfigNames { public static void main(String[] a) throws Exception {
  Class<?> c = Class.forName("kafka.server.KafkaConfig");
  Object def = c.getMethod("configDef").invoke(null);
  for (Object n : new java.util.TreeSet<>((java.util.Set<?>) def.getClass().getMethod("names").invoke(def))) System.out.println(n);
}}
