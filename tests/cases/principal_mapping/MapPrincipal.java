import org.apache.kafka.common.security.ssl.SslPrincipalMapper;
public class MapPrincipal {
  public static void main(String[] a) throws Exception {
    for (int i = 0; i + 1 < a.length; i += 2) {
      try { System.out.println(SslPrincipalMapper.fromRules(a[i]).getName(a[i+1])); }
      catch (Exception e) { System.out.println("ERROR " + e.getClass().getSimpleName()); }
    }
  }
}
